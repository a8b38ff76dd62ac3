import assert from "node:assert/strict";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import {
  amproxySigner,
  DESIGN_AUTH_FILE,
  nowSeconds,
  postLines,
  sendLines,
  signLine,
  spawnServerProcess,
  startTestServer,
  waitForSample,
} from "./fixture.ts";
import type { ServerProcess, TestServer } from "./fixture.ts";

function lines(metric: string, count: number, firstTimestamp: number): string[] {
  const signer = amproxySigner();
  return Array.from({ length: count }, (_, index) =>
    signLine(signer, metric, index + 1, firstTimestamp + index, "my_public_key"),
  );
}

describe("Carbon down: lines are spooled, then replayed exactly once when it is back", () => {
  let carbon: Carbon;
  let server: TestServer;
  before(async () => {
    carbon = await startCarbon();
    server = await startTestServer({
      carbonPort: carbon.linePort,
      flags: { "state-dir": makeTempDir("server-state") },
    });
  });
  after(async () => {
    await server?.close();
    await carbon?.dispose();
  });

  test("every accepted line is in whisper once, and the spool ends empty", async () => {
    const start = nowSeconds() - 600;
    const port = server.port("tcp");
    await sendLines(port, lines("metric1", 20, start));
    await carbon.waitForPoints("metric1", 20, { from: start - 1 });

    await carbon.stop();
    await waitForSample(
      () => server.metrics(),
      "homeward_server_carbon_connections_up",
      {},
      (up) => up === 0,
    );
    const whileDown = lines("metric1", 80, start + 100).slice(0, 80);
    await sendLines(port, whileDown.slice(0, 40));
    await sendLines(port, whileDown.slice(40));
    await waitForSample(
      () => server.metrics(),
      "homeward_server_spool_lines",
      {},
      (depth) => depth === 80,
    );

    await carbon.start();
    await waitForSample(
      () => server.metrics(),
      "homeward_server_spool_lines",
      {},
      (depth) => depth === 0,
    );
    const points = await carbon.waitForPoints("metric1", 100, { from: start - 1 });
    assert.equal(points.length, 100);
    const metrics = await server.metrics();
    await waitForSample(
      () => server.metrics(),
      "homeward_server_replayed_lines_total",
      {},
      (count) => count === 80,
    );
    assert.match(metrics, /homeward_server_lines_accepted_total\{key="my_public_key"\} 100/);
  });
});

describe("kill -9 with a non-empty spool, then restart: nothing accepted is lost", () => {
  let carbon: Carbon;
  let server: ServerProcess | undefined;
  before(async () => {
    carbon = await startCarbon();
  });
  after(async () => {
    await server?.proc.kill();
    await carbon?.dispose();
  });

  test("lines acknowledged over HTTP while Carbon was down reach whisper after the crash and restart", async () => {
    const dir = makeTempDir("server-crash");
    const authFile = join(dir, "auth_file.yaml");
    writeFileSync(authFile, DESIGN_AUTH_FILE);
    const stateDir = join(dir, "state");
    // Started while Carbon runs, so its free ports cannot include Carbon's own.
    let running = await spawnServerProcess({ authFile, carbonPort: carbon.linePort, stateDir });
    server = running;
    await carbon.stop();
    await waitForSample(
      () => running.metrics(),
      "homeward_server_carbon_connections_up",
      {},
      (up) => up === 0,
    );
    const start = nowSeconds() - 900;
    const batch = lines("metric2", 150, start);
    for (let offset = 0; offset < batch.length; offset += 50) {
      const reply = await postLines(running.httpPort, `${batch.slice(offset, offset + 50).join("\n")}\n`);
      assert.equal(reply.status, 200);
      assert.equal(reply.json.accepted, 50);
    }
    await waitForSample(
      () => running.metrics(),
      "homeward_server_spool_lines",
      {},
      (depth) => depth === 150,
    );
    const ports: [number, number, number] = [running.tcpPort, running.httpPort, running.metricsPort];
    await running.proc.kill();
    assert.ok(readdirSync(join(stateDir, "spool")).length > 0, "the spool is on disk");

    await carbon.start();
    running = await spawnServerProcess({ authFile, carbonPort: carbon.linePort, stateDir, ports });
    server = running;
    const points = await carbon.waitForPoints("metric2", 150, { from: start - 1 });
    assert.equal(points.length, 150);
    assert.deepEqual(
      points.map(([timestamp, value]) => [timestamp - start, value]),
      batch.map((_, index) => [index, index + 1]),
    );
    await waitForSample(
      () => running.metrics(),
      "homeward_server_spool_lines",
      {},
      (depth) => depth === 0,
    );
    const status = await running.proc.stop();
    assert.equal(status.code, 0, "SIGTERM: a clean exit");
  });
});
