import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { makeTempDir, removeTempDir } from "../../../harness/cleanup.ts";
import { pollUntil } from "../../../harness/poll.ts";
import { Shipper } from "../../../../agent/ship/shipper.ts";
import type { ShipperOptions } from "../../../../agent/ship/shipper.ts";
import { createTransport } from "../../../../agent/transports/index.ts";
import type { SendOutcome } from "../../../../agent/transports/transport.ts";
import { DiskQueue } from "../../../../queue/disk-queue.ts";
import { acceptAll, startIngestTestServer } from "../transports/ingest-test-server.ts";
import type { ScriptedReply } from "../transports/ingest-test-server.ts";
import { testLines } from "../transports/lines.ts";
import { deliveredAll, RecordingTransport } from "./recording-transport.ts";
import { VirtualClock } from "./virtual-clock.ts";

const dir = makeTempDir("shipper");
after(() => removeTempDir(dir));
let queues = 0;

/** The real disk buffer (fsync off: these tests are about shipping, not power cuts). */
async function queueWith(lines: readonly string[]): Promise<DiskQueue> {
  const queue = await DiskQueue.open({ dir: join(dir, `queue-${++queues}`), fsync: false });
  queue.append(lines);
  await queue.flush();
  return queue;
}

/** A shipper with a seeded random source; after the test it is stopped and its queue closed. */
function shipperFor(t: { after(fn: () => Promise<void>): unknown }, options: ShipperOptions): Shipper {
  let seed = 7;
  const shipper = new Shipper({
    random: () => (seed = (seed * 16807) % 2147483647) / 2147483647,
    ...options,
  });
  t.after(async () => {
    await shipper.stop();
    await options.queue.close();
  });
  shipper.start();
  return shipper;
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

describe("shipper over https", () => {
  test("lines leave the buffer only after the server's 200", async (t) => {
    const lines = testLines(5);
    const reply = deferred<ScriptedReply>();
    const server = await startIngestTestServer(() => reply.promise);
    const transport = createTransport({ url: server.url });
    t.after(async () => {
      await transport.close();
      await server.close();
    });
    const queue = await queueWith(lines);
    const shipper = shipperFor(t, { queue, transport, clock: new VirtualClock() });

    await pollUntil(() => (server.requests.length === 1 ? true : undefined), { what: "the POST" });
    assert.equal(queue.stats().depth, 5, "in flight, nothing is acked yet");
    assert.equal(shipper.status().lastShipAt, null);

    reply.resolve(acceptAll(lines));
    await pollUntil(() => (queue.stats().depth === 0 ? true : undefined), { what: "the ack" });
    await shipper.stop();
    const status = shipper.status();
    assert.equal(status.shippedLines, 5);
    assert.notEqual(status.lastShipAt, null);
    assert.equal(server.requests[0]?.body, `${lines.join("\n")}\n`);
  });

  test("a 500 keeps every line, and the same oldest batch is tried again", async (t) => {
    const lines = testLines(8);
    const server = await startIngestTestServer(() => ({ status: 500, body: { error: "boom" } }));
    const transport = createTransport({ url: server.url });
    t.after(async () => {
      await transport.close();
      await server.close();
    });
    const queue = await queueWith(lines);
    const shipper = shipperFor(t, { queue, transport, clock: new VirtualClock(), maxBatchLines: 5 });

    await pollUntil(() => (server.requests.length >= 3 ? true : undefined), { what: "three attempts" });
    await shipper.stop();
    assert.equal(queue.stats().depth, 8);
    assert.deepEqual(
      new Set(server.requests.map((request) => request.body)),
      new Set([`${lines.slice(0, 5).join("\n")}\n`]),
    );
    const status = shipper.status();
    assert.equal(status.lastShipAt, null);
    assert.ok(status.shipErrors >= 3);
    assert.equal(status.lastError?.message, "server error (HTTP 500)");
    assert.equal(status.oldestReadingAt, 1764000000 * 1000, "the oldest line's own timestamp");
  });

  test("permanent rejections are dropped and counted by reason; duplicates are not losses", async (t) => {
    const lines = testLines(6);
    const server = await startIngestTestServer(() => ({
      status: 200,
      body: {
        accepted: 3,
        rejected: { bad_signature: 2, duplicate: 1 },
        errors: [
          { line: 2, reason: "bad_signature" },
          { line: 4, reason: "bad_signature" },
          { line: 6, reason: "duplicate" },
        ],
      },
    }));
    const transport = createTransport({ url: server.url });
    t.after(async () => {
      await transport.close();
      await server.close();
    });
    const queue = await queueWith(lines);
    const shipper = shipperFor(t, { queue, transport, clock: new VirtualClock() });
    await pollUntil(() => (queue.stats().depth === 0 ? true : undefined), {
      what: "the batch to be settled",
    });
    await shipper.stop();
    const status = shipper.status();
    assert.deepEqual(status.droppedByReason, { bad_signature: 2 });
    assert.equal(status.duplicates, 1);
    assert.equal(status.shippedLines, 3);
    assert.equal(status.shipErrors, 0);
  });

  test("connection refused: lines kept, the error in plain words", async (t) => {
    const server = await startIngestTestServer(acceptAll);
    const url = server.url;
    await server.close();
    const transport = createTransport({ url });
    t.after(() => transport.close());
    const queue = await queueWith(testLines(3));
    const shipper = shipperFor(t, { queue, transport, clock: new VirtualClock() });
    await pollUntil(() => (shipper.status().shipErrors >= 2 ? true : undefined), {
      what: "two failed attempts",
    });
    await shipper.stop();
    assert.equal(queue.stats().depth, 3);
    assert.match(
      shipper.status().lastError?.message ?? "",
      /^could not reach 127\.0\.0\.1 \(connection refused, ECONNREFUSED\)$/,
    );
  });
});

describe("shipper pacing and retries", () => {
  test("after an outage the backlog goes oldest first, at most the configured lines per second", async (t) => {
    const lines = testLines(3000);
    const clock = new VirtualClock();
    const progress: number[] = [];
    const running: { shipper?: Shipper } = {};
    const transport = new RecordingTransport(
      () => clock.now(),
      (batch, attempt): SendOutcome => {
        if (attempt <= 3)
          return { kind: "retry", why: "could not reach metrics.example.org (connection refused)" };
        const catchUp = running.shipper?.status().catchUp;
        if (catchUp) progress.push(catchUp.fractionDone);
        return deliveredAll(batch);
      },
    );
    const queue = await queueWith(lines);
    const shipper = shipperFor(t, { queue, transport, clock, linesPerSecond: 50, maxBatchLines: 100 });
    running.shipper = shipper;
    await pollUntil(() => (queue.stats().depth === 0 ? true : undefined), { what: "the backlog to drain" });
    await shipper.stop();

    assert.deepEqual(transport.delivered(), lines, "every line once, in order");
    const deliveries = transport.sends.filter((send) => send.outcome.kind === "delivered");
    for (let from = 0; from < deliveries.length; from++) {
      let total = 0;
      for (let to = from; to < deliveries.length; to++) {
        total += deliveries[to]?.lines.length ?? 0;
        const spanS = ((deliveries[to]?.at ?? 0) - (deliveries[from]?.at ?? 0)) / 1000;
        assert.ok(total <= 100 + 50 * spanS, `${total} lines within ${spanS} s`);
      }
    }
    const first = deliveries[0]?.at ?? 0;
    const last = deliveries[deliveries.length - 1]?.at ?? 0;
    assert.ok(last - first >= ((3000 - 100) / 50) * 1000, "3000 lines at 50/s take at least 58 s");

    assert.ok(progress.length > 10, "catch-up progress was reported while sending");
    assert.deepEqual(
      progress,
      [...progress].sort((a, b) => a - b),
      "progress only goes up",
    );
    assert.ok((progress[progress.length - 1] ?? 0) > 0.9);
    assert.equal(shipper.status().catchUp, null, "caught up");
    assert.equal(shipper.status().shipErrors, 3);
  });

  test("Retry-After is honoured, and a throttled batch is split until the server keeps up", async (t) => {
    const lines = testLines(40);
    const clock = new VirtualClock();
    const transport = new RecordingTransport(
      () => clock.now(),
      (batch, attempt): SendOutcome =>
        attempt === 1
          ? { kind: "retry", afterMs: 30_000, throttled: true, why: "HTTP 429" }
          : deliveredAll(batch),
    );
    const queue = await queueWith(lines);
    const shipper = shipperFor(t, { queue, transport, clock, maxBatchLines: 40, linesPerSecond: 1000 });
    await pollUntil(() => (queue.stats().depth === 0 ? true : undefined), { what: "delivery" });
    await shipper.stop();
    const [refused, retried] = transport.sends;
    assert.ok(refused && retried);
    assert.ok(retried.at - refused.at >= 30_000, `retried after ${retried.at - refused.at} ms`);
    assert.equal(refused.lines.length, 40);
    assert.equal(retried.lines.length, 20);
    assert.deepEqual(transport.delivered(), lines);
  });

  test("413: the batch is halved until the server takes it, and nothing is skipped", async (t) => {
    const lines = testLines(100);
    const clock = new VirtualClock();
    const transport = new RecordingTransport(
      () => clock.now(),
      (batch): SendOutcome =>
        batch.length > 30 ? { kind: "too_large", why: "HTTP 413" } : deliveredAll(batch),
    );
    const queue = await queueWith(lines);
    const shipper = shipperFor(t, { queue, transport, clock, maxBatchLines: 100, linesPerSecond: 1000 });
    await pollUntil(() => (queue.stats().depth === 0 ? true : undefined), { what: "delivery" });
    await shipper.stop();
    assert.deepEqual(
      transport.sends.map((send) => send.lines.length),
      [100, 50, 25, 25, 25, 25],
    );
    assert.deepEqual(transport.delivered(), lines);
    assert.equal(shipper.status().shipErrors, 0);
  });

  test("a fatal refusal keeps the lines and waits long before trying again", async (t) => {
    const clock = new VirtualClock();
    const transport = new RecordingTransport(
      () => clock.now(),
      (_batch, attempt): SendOutcome =>
        attempt === 1 ? { kind: "fatal", why: "the server refused us (HTTP 401)" } : deliveredAll(_batch),
    );
    const queue = await queueWith(testLines(2));
    const shipper = shipperFor(t, { queue, transport, clock, fatalPauseMs: 600_000 });
    await pollUntil(() => (queue.stats().depth === 0 ? true : undefined), {
      what: "delivery after the pause",
    });
    await shipper.stop();
    const [refused, retried] = transport.sends;
    assert.ok((retried?.at ?? 0) - (refused?.at ?? 0) >= 600_000);
    assert.equal(shipper.status().lastError?.message, "the server refused us (HTTP 401)");
  });

  test("stop() waits for the batch in flight and acks it when it was delivered", async (t) => {
    const clock = new VirtualClock();
    const answer = deferred<SendOutcome>();
    let inFlight = false;
    const transport = new RecordingTransport(
      () => clock.now(),
      () => {
        inFlight = true;
        return answer.promise;
      },
    );
    const lines = testLines(3);
    const queue = await queueWith(lines);
    const shipper = shipperFor(t, { queue, transport, clock });
    await pollUntil(() => (inFlight ? true : undefined), { what: "the send to start" });
    let stopped = false;
    const stopping = shipper.stop().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stopped, false, "still waiting for the batch in flight");
    answer.resolve(deliveredAll(lines));
    await stopping;
    assert.equal(queue.stats().depth, 0);
    assert.equal(transport.sends.length, 1);
  });
});
