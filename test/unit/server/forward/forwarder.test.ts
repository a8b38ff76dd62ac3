import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import pino from "pino";
import { DiskQueue } from "../../../../queue/disk-queue.ts";
import { Forwarder } from "../../../../server-stub/forward/forwarder.ts";
import { freePort } from "../../../harness/free-port.ts";
import { pollUntil } from "../../../harness/poll.ts";

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A Carbon stand-in that records every line it receives. */
class LineSink {
  readonly lines: string[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private rest = "";
  constructor(readonly port: number) {}
  start(): Promise<void> {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => {
        const parts = (this.rest + chunk).split("\n");
        this.rest = parts.pop() ?? "";
        this.lines.push(...parts);
      });
      socket.on("error", () => undefined);
    });
    return new Promise((resolve) => this.server?.listen(this.port, "127.0.0.1", () => resolve()));
  }
  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server?.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }
  waitFor(count: number): Promise<void> {
    return pollUntil(() => (this.lines.length >= count ? true : undefined), {
      what: `${count} lines at the sink`,
      describe: () => `got ${this.lines.length}`,
    }).then(() => undefined);
  }
}

async function spool(): Promise<DiskQueue> {
  const dir = mkdtempSync(join(tmpdir(), "homeward-forwarder-"));
  dirs.push(dir);
  return DiskQueue.open({ dir, fsync: false });
}

const log = pino({ level: "silent" });
const backoff = { initialMs: 20, maxMs: 100, factor: 2, jitter: 0 };
const lines = (count: number, from = 0): string[] =>
  Array.from({ length: count }, (_, index) => `test.metric ${from + index} ${1764000000 + from + index}\n`);

test("lines go to Carbon in batches over persistent connections", async () => {
  const sink = new LineSink(await freePort());
  await sink.start();
  const forwarder = new Forwarder({
    carbon: { host: "127.0.0.1", port: sink.port },
    log,
    backoff,
    spool: await spool(),
  });
  forwarder.start();
  await pollUntil(() => (forwarder.stats().connectionsUp === 2 ? true : undefined), {
    what: "connections up",
  });
  await forwarder.send(lines(1000));
  await sink.waitFor(1000);
  assert.deepEqual(
    sink.lines,
    lines(1000).map((line) => line.trim()),
  );
  assert.equal(forwarder.stats().forwardedLines, 1000);
  assert.equal(forwarder.stats().spoolDepth, 0);
  await forwarder.close();
  await sink.stop();
});

test("Carbon down: lines are spooled (send resolves once they are on disk), then replayed in order at the capped rate", async () => {
  const sink = new LineSink(await freePort());
  const queue = await spool();
  const forwarder = new Forwarder({
    carbon: { host: "127.0.0.1", port: sink.port },
    log,
    backoff,
    spool: queue,
    replayLinesPerSecond: 1000,
  });
  forwarder.start();
  await forwarder.send(lines(300));
  await forwarder.send(lines(200, 300));
  assert.equal(forwarder.stats().spoolDepth, 500);
  assert.equal(forwarder.stats().spooledLines, 500);
  assert.equal(forwarder.accepting(), true);

  const started = Date.now();
  await sink.start();
  await sink.waitFor(500);
  const elapsed = Date.now() - started;
  assert.deepEqual(
    sink.lines,
    lines(500).map((line) => line.trim()),
    "in order, each once",
  );
  assert.ok(
    elapsed >= 350,
    `500 lines at 1000/s in 100-line ticks take at least 4 ticks (took ${elapsed} ms)`,
  );
  await pollUntil(() => (forwarder.stats().spoolDepth === 0 ? true : undefined), { what: "an empty spool" });
  assert.equal(forwarder.stats().replayedLines, 500);
  await forwarder.close();
  await sink.stop();
});

test("close with Carbon down leaves what was in memory in the spool, for the next start", async () => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "homeward-forwarder-"));
  dirs.push(dir);
  const forwarder = new Forwarder({
    carbon: { host: "127.0.0.1", port },
    log,
    backoff,
    spool: await DiskQueue.open({ dir, fsync: false }),
  });
  forwarder.start();
  void forwarder.send(lines(10));
  await forwarder.close();
  const reopened = await DiskQueue.open({ dir, fsync: false });
  assert.equal(reopened.stats().depth, 10);
  const sink = new LineSink(port);
  await sink.start();
  const next = new Forwarder({ carbon: { host: "127.0.0.1", port }, log, backoff, spool: reopened });
  next.start();
  await sink.waitFor(10);
  assert.deepEqual(
    sink.lines,
    lines(10).map((line) => line.trim()),
  );
  await next.close();
  await sink.stop();
});

test("without a spool, lines wait in memory up to the limit, then the forwarder refuses more", async () => {
  const sink = new LineSink(await freePort());
  const forwarder = new Forwarder({
    carbon: { host: "127.0.0.1", port: sink.port },
    log,
    backoff,
    memoryLimitBytes: 1000,
  });
  forwarder.start();
  await forwarder.send(lines(50));
  assert.equal(forwarder.accepting(), false);
  await sink.start();
  await sink.waitFor(50);
  await pollUntil(() => (forwarder.accepting() ? true : undefined), { what: "room again" });
  await forwarder.close();
  await sink.stop();
});
