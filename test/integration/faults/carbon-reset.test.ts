import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { sendLines } from "../server/fixture.ts";
import { FaultyCarbon, faultLines, makeFaultKey, startFaultServer, waitForMetric } from "./support.ts";
import type { FaultServer, ProxyMode } from "./support.ts";

// A real carbon-cache cannot be made to reset connections on demand: a proxy in front of it does.
describe("fault: Carbon resetting connections", () => {
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
      name: "fault-carbon-reset",
    });
    await waitForMetric(server, "homeward_server_carbon_connections_up", (up) => up === 2);
  });
  after(async () => {
    await server?.close();
    await proxy?.close();
    await carbon?.dispose();
  });

  const cases: { mode: ProxyMode; what: string; metric: string }[] = [
    {
      mode: "reset",
      what: "every connection is reset as soon as it is accepted",
      metric: "fault.reset.accept",
    },
    {
      mode: "reset-after-data",
      what: "every connection is reset after Carbon read (and dropped) the first lines written to it",
      metric: "fault.reset.data",
    },
  ];
  for (const { mode, what, metric } of cases) {
    test(`${what}: no accepted line is lost, and the flapping is logged once, not per attempt`, async () => {
      const start = nowSeconds() - 3000;
      const lines = faultLines(key, metric, 1000, start);
      await sendLines(server.port("tcp"), lines.slice(0, 100));
      await carbon.waitForPoints(metric, 100, { from: start - 1 });
      const logsBefore = server.logsMatching(/Carbon/).length;
      const resetsBefore = proxy.resets;

      proxy.setMode(mode);
      for (let offset = 100; offset < 1000; offset += 50) {
        await sendLines(server.port("tcp"), lines.slice(offset, offset + 50));
        await delay(100);
      }
      await delay(500);
      const resets = proxy.resets - resetsBefore;
      const logged = server.logsMatching(/Carbon/).length - logsBefore;

      proxy.setMode("pass");
      const points = await carbon.waitForPoints(metric, 1000, { from: start - 1, timeoutMs: 30_000 });
      assert.deepEqual(
        points.map(([timestamp, value]) => [timestamp - start, value]),
        lines.map((_, index) => [index, index]),
        "every line, with its value",
      );
      assert.ok(resets >= 5, `Carbon reset ${resets} connections`);
      // One line per kind (down, back up) per minute, however many times it flapped.
      assert.ok(logged <= 2, `${logged} log lines about Carbon for ${resets} resets`);
      await waitForMetric(server, "homeward_server_spool_lines", (depth) => depth === 0, {
        timeoutMs: 30_000,
      });
      if (mode === "reset-after-data") {
        assert.ok(
          (await server.sample("homeward_server_resent_lines_total")) > 0,
          "lines Carbon may not have read were sent again",
        );
      }
      assert.doesNotMatch(
        await server.metrics(),
        /homeward_server_forward_dropped_lines_total\{[^}]*\} [1-9]/,
      );
    });
  }
});
