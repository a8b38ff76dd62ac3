import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { closedByPeer, openConnection, sendLines } from "../server/fixture.ts";
import {
  FAULT_KEY_ID,
  faultLines,
  makeFaultKey,
  postLines,
  startFaultServer,
  waitForMetric,
} from "./support.ts";
import type { FaultServer } from "./support.ts";

const HOUR = 3_600_000;

// The whole server runs in this process with its clock injected (startServer's `clock`), so the
// clock can jump without touching the machine's: everything the server decides by time (the time
// window, token buckets, the failure budget, dedupe, the rejection log's budget) reads it. Timers
// (idle timeouts, reconnects) run on the monotonic clock and do not jump, as in production.
describe("fault: the server's clock jumping hours forward or back", () => {
  let carbon: Carbon;
  let server: FaultServer;
  let offsetMs = 0;
  const clock = (): number => Date.now() + offsetMs;
  const key = makeFaultKey();
  // A key with a small bucket: 1 line/s, 20 at once.
  const small = makeFaultKey({ keyId: "small-bucket", rate: 1, burst: 20 });
  const authText = `apikeys:\n${key.entry}${small.entry}`;
  before(async () => {
    carbon = await startCarbon();
    server = await startFaultServer({
      carbonAddr: `127.0.0.1:${carbon.linePort}`,
      authText,
      flags: { "max-failures": "20", "failure-window": "1m", "block-for": "1m" },
      clock,
      name: "fault-clock",
    });
  });
  after(async () => {
    await server?.close();
    await carbon?.dispose();
  });

  test("forward 3 h: the time window moves with the clock, and the key's bucket refills to its burst, no more", async () => {
    const start = nowSeconds() - 600;
    const first = faultLines(small, "fault.clock.forward", 20, start);
    assert.equal((await postLines(server.port("http"), first)).accepted, 20, "the burst");
    const over = await postLines(
      server.port("http"),
      faultLines(small, "fault.clock.forward", 1, start + 20, 20),
    );
    assert.deepEqual(over.rejected, { rate_limited_key: 1 });

    offsetMs = 3 * HOUR;
    // 3 h at 1 line/s would be 10 800 tokens; the bucket holds 20.
    const after = await postLines(
      server.port("http"),
      faultLines(small, "fault.clock.forward", 30, start + 100, 100),
    );
    assert.equal(after.status, 429);
    assert.equal(after.accepted, 20);
    assert.deepEqual(after.rejected, { rate_limited_key: 10 });
    // Lines the device stamped by the real time are now 3 h old for the server: inside max_age.
    const points = await carbon.waitForPoints("fault.clock.forward", 40, { from: start - 1 });
    assert.equal(points.length, 40);
  });

  test("back 3 h: lines stamped by the real time are refused as timestamp_in_future and counted, the bucket is not drained, and a blocked source is not blocked for 3 h more", async () => {
    offsetMs = 0;
    // A line stamped 4 h ago, taken before the jump: after it, dedupe must still know it.
    const early = faultLines(key, "fault.clock.dedupe", 1, nowSeconds() - 4 * 3600);
    assert.equal((await postLines(server.port("http"), early)).accepted, 1);
    // A source used up its failure budget just now (forged lines from 127.0.0.9): blocked for 1 min.
    const forged = faultLines(key, "fault.clock.forged", 21, nowSeconds() - 60).map((line) =>
      line.replace(/ \S+$/, ` ${"A".repeat(43)}=`),
    );
    await sendLines(server.port("tcp"), forged, "127.0.0.9").catch(() => undefined);
    await waitForMetric(server, "homeward_server_sources_blocked", (blocked) => blocked === 1);

    offsetMs = -3 * HOUR;
    const realNow = nowSeconds();
    const future = await postLines(server.port("http"), faultLines(key, "fault.clock.back", 5, realNow - 10));
    assert.equal(future.status, 200, "a permanent rejection, decided");
    assert.deepEqual(future.rejected, { timestamp_in_future: 5 });
    assert.equal(
      await server.sample("homeward_server_lines_rejected_total", {
        key: FAULT_KEY_ID,
        reason: "timestamp_in_future",
      }),
      5,
    );
    // Lines stamped by the server's (wrong) clock are taken, and the bucket still has its tokens.
    const serverNow = Math.floor(clock() / 1000);
    const taken = await postLines(
      server.port("http"),
      faultLines(key, "fault.clock.back", 10, serverNow - 100, 100),
    );
    assert.equal(taken.accepted, 10);

    // Still blocked right after the jump...
    const refused = await openConnection(server.port("tcp"), "127.0.0.9");
    await closedByPeer(refused);
    // ...and free again once the cool-down has passed on the server's clock, not 3 h later.
    offsetMs += 61_000;
    const unblockedAt = Math.floor(clock() / 1000) - 5;
    await sendLines(
      server.port("tcp"),
      faultLines(key, "fault.clock.unblocked", 1, unblockedAt),
      "127.0.0.9",
    );
    await carbon.waitForPoints("fault.clock.unblocked", 1, { from: unblockedAt - 1 });
    assert.equal(await server.sample("homeward_server_sources_blocked"), 0);

    // Dedupe still catches a line it took before the jump back.
    const again = await postLines(server.port("http"), early);
    assert.deepEqual(again.rejected, { duplicate: 1 });
  });

  test("the rejections were logged at a bounded rate, never once per line", () => {
    const rejected = server.logsMatching(/line rejected/);
    // The rejection log's own bucket: 20 at once, 5/s; each forward jump may refill it once.
    assert.ok(rejected.length <= 2 * 20 + 5 * 60, `${rejected.length} rejection log lines`);
    assert.ok(rejected.every((entry) => typeof entry.reason === "string"));
  });
});
