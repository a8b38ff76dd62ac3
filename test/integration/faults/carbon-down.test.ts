import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { sendLines } from "../server/fixture.ts";
import { faultLines, makeFaultKey, postLines, startFaultServer, waitForMetric } from "./support.ts";
import type { FaultServer } from "./support.ts";

describe("fault: Carbon down", () => {
  let carbon: Carbon;
  let server: FaultServer;
  const key = makeFaultKey();
  before(async () => {
    carbon = await startCarbon();
    server = await startFaultServer({
      carbonAddr: `127.0.0.1:${carbon.linePort}`,
      authText: key.authText,
      name: "fault-carbon-down",
    });
  });
  after(async () => {
    await server?.close();
    await carbon?.dispose();
  });

  test("lines accepted while Carbon is down are spooled and all reach it once it is back; the outage is logged once, not per line", async () => {
    const metric = "fault.down.value";
    const start = nowSeconds() - 3000;
    const lines = faultLines(key, metric, 1200, start);
    await sendLines(server.port("tcp"), lines.slice(0, 100));
    await carbon.waitForPoints(metric, 100, { from: start - 1 });

    await carbon.stop();
    await waitForMetric(server, "homeward_server_carbon_connections_up", (up) => up === 0);
    const outageStarted = Date.now();
    // TCP in several connections, and HTTP, whose replies say every line was taken.
    for (let offset = 100; offset < 900; offset += 100)
      await sendLines(server.port("tcp"), lines.slice(offset, offset + 100));
    for (let offset = 900; offset < 1200; offset += 100) {
      const reply = await postLines(server.port("http"), lines.slice(offset, offset + 100));
      assert.equal(reply.status, 200);
      assert.equal(reply.accepted, 100);
    }
    await waitForMetric(server, "homeward_server_spool_lines", (depth) => depth === 1100);
    const outageSeconds = (Date.now() - outageStarted) / 1000;

    await carbon.start();
    await waitForMetric(server, "homeward_server_spool_lines", (depth) => depth === 0, { timeoutMs: 30_000 });
    const points = await carbon.waitForPoints(metric, 1200, { from: start - 1 });
    assert.deepEqual(
      points.map(([timestamp, value]) => [timestamp - start, value]),
      lines.map((_, index) => [index, index]),
      "every line, once, with its value",
    );
    assert.equal(await server.sample("homeward_server_lines_accepted_total", { key: "fault-device" }), 1200);
    await waitForMetric(server, "homeward_server_replayed_lines_total", (replayed) => replayed >= 1100);
    assert.doesNotMatch(await server.metrics(), /homeward_server_forward_dropped_lines_total\{[^}]*\} [1-9]/);

    const down = server
      .logsMatching(/Carbon/)
      .filter((entry) => entry.level === "warn" || entry.level === "error");
    assert.ok(down.length >= 1, "the outage is logged");
    assert.ok(
      down.length <= 2 * (1 + Math.ceil(outageSeconds / 60)),
      `${down.length} warnings in ${outageSeconds}s`,
    );
  });
});
