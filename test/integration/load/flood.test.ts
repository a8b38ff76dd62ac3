import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { DEVICE_KEY_ID, DEVICE_METRIC, makeLoadKeys, runLoad } from "./load-driver.ts";
import { spawnServerChild } from "./server-process.ts";
import type { ServerChild } from "./server-process.ts";

const MiB = 1024 * 1024;

// A few seconds of issue 8's load, in CI: the full run with its figures is scripts/bench-load.ts.
// Nothing here asserts a rate or a time: what is asserted holds on a slow machine too.
describe("load: a flood of bad lines from one source and 1000 idle connections, while a device sends", () => {
  let carbon: Carbon;
  let server: ServerChild;
  const keys = makeLoadKeys();
  before(async () => {
    carbon = await startCarbon();
    server = await spawnServerChild({
      authText: keys.authText,
      carbonAddr: `127.0.0.1:${carbon.linePort}`,
      // The failure budget off: every bad line must be parsed and refused, the harder case.
      flags: ["--max-failures", "0"],
      name: "load-test-server",
    });
  });
  after(async () => {
    await server?.stop();
    await carbon?.dispose();
  });

  test("the server stays up, decides every bad line, keeps the idle connections within its caps, and takes ≥ 99 % of the device's lines", async () => {
    const result = await runLoad(server, keys, {
      durationMs: 4000,
      badLinesPerSecond: 50_000,
      idleConnections: 1000,
      idleHttpShare: 0.1,
      idlePerSource: 50,
      deviceLinesPerSecond: 100,
      deviceBatch: 10,
    });
    server.assertRunning();
    assert.ok(result.idleOpened >= 990, `${result.idleOpened} idle connections opened`);
    assert.equal(result.rejectedByServer, result.badLinesSent, "every bad line was decided and counted");
    assert.ok(result.deviceSent > 0);
    assert.ok(
      result.deviceAccepted >= 0.99 * result.deviceSent,
      `device: ${result.deviceAccepted}/${result.deviceSent} accepted, rejected ${JSON.stringify(result.deviceRejected)}, ${result.deviceFailedRequests} failed requests`,
    );
    assert.ok(
      result.rssBytes.after < result.rssBytes.before + 256 * MiB,
      `RSS ${(result.rssBytes.before / MiB).toFixed(0)} -> ${(result.rssBytes.after / MiB).toFixed(0)} MiB`,
    );
    const points = await carbon.waitForPoints(DEVICE_METRIC, result.deviceAccepted, {
      from: result.deviceFirstTimestamp - 1,
      until: result.deviceFirstTimestamp + result.deviceSent,
    });
    assert.equal(points.length, result.deviceAccepted, "the device's accepted lines are all in whisper");
    assert.equal(
      await server.sample("homeward_server_lines_accepted_total", { key: DEVICE_KEY_ID }),
      result.deviceAccepted,
    );
    console.log(
      `load (scaled down): ${result.badLinesSent} bad lines in ${result.seconds.toFixed(1)} s ` +
        `(${Math.round(result.badLinesPerSecond)}/s), ${result.idleOpened} idle (${result.idleOpenAtEnd} still open), ` +
        `device ${result.deviceAccepted}/${result.deviceSent}, RSS ${(result.rssBytes.before / MiB).toFixed(0)}/` +
        `${(result.rssBytes.peak / MiB).toFixed(0)}/${(result.rssBytes.after / MiB).toFixed(0)} MiB`,
    );
  });
});
