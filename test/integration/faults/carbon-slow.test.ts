import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { sendLines } from "../server/fixture.ts";
import { FaultyCarbon, faultLines, makeFaultKey, startFaultServer, waitForMetric } from "./support.ts";
import type { FaultServer } from "./support.ts";

// Long metric names (about 900 bytes a line) fill the kernel's socket buffers and the server's
// 4 MiB high-water mark with a few thousand lines instead of a few hundred thousand.
const METRIC = `fault.slow.${Array.from({ length: 8 }, (_, index) => `s${index}${"x".repeat(100)}`).join(".")}`;

describe("fault: Carbon slow (accepts connections, stops reading)", () => {
  let carbon: Carbon;
  let proxy: FaultyCarbon;
  let server: FaultServer;
  const key = makeFaultKey();
  before(async () => {
    carbon = await startCarbon();
    proxy = new FaultyCarbon(carbon.linePort, "pass");
    await proxy.start();
    server = await startFaultServer({
      carbonAddr: proxy.address,
      authText: key.authText,
      flags: { "carbon-connections": "1" },
      name: "fault-carbon-slow",
    });
    await waitForMetric(server, "homeward_server_carbon_connections_up", (up) => up === 1);
  });
  after(async () => {
    await server?.close();
    await proxy?.close();
    await carbon?.dispose();
  });

  test("once its buffers are full the server spools instead of waiting; when Carbon reads again every line arrives once", async () => {
    const start = nowSeconds() - 20_000;
    const lines = faultLines(key, METRIC, 16_000, start);
    await sendLines(server.port("tcp"), lines.slice(0, 10));
    await carbon.waitForPoints(METRIC, 10, { from: start - 1 });

    proxy.setMode("stall");
    let sent = 10;
    // Bounded: at most 16 000 lines (about 14 MiB); stops as soon as the server spools.
    while (sent < lines.length && (await server.sample("homeward_server_spool_lines")) === 0) {
      await sendLines(server.port("tcp"), lines.slice(sent, sent + 1000));
      sent = Math.min(lines.length, sent + 1000);
    }
    await waitForMetric(server, "homeward_server_spool_lines", (depth) => depth > 0);
    const slow = server.logsMatching(/not reading fast enough/);
    assert.equal(slow.length, 1, "said once that Carbon is not keeping up");
    assert.equal(slow[0]?.level, "warn");
    assert.equal(
      await server.sample("homeward_server_carbon_connections_up"),
      1,
      "the connection is up, only slow",
    );
    // More lines while it is stalled go straight to the spool.
    await sendLines(server.port("tcp"), lines.slice(sent, sent + 500));
    sent += 500;
    assert.equal(server.logsMatching(/not reading fast enough/).length, 1, "and not again per batch");

    proxy.setMode("pass");
    const points = await carbon.waitForPoints(METRIC, sent, { from: start - 1, timeoutMs: 60_000 });
    assert.deepEqual(
      points.map(([timestamp, value]) => [timestamp - start, value]),
      lines.slice(0, sent).map((_, index) => [index, index]),
      "every line, once, with its value",
    );
    await waitForMetric(server, "homeward_server_spool_lines", (depth) => depth === 0);
    assert.equal(await server.sample("homeward_server_lines_accepted_total", { key: "fault-device" }), sent);
    assert.doesNotMatch(await server.metrics(), /homeward_server_forward_dropped_lines_total\{[^}]*\} [1-9]/);
  });
});
