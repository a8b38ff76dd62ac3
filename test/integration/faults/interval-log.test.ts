import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import pino from "pino";
import { Forwarder } from "../../../server-stub/forward/forwarder.ts";
import { IntervalLog } from "../../../runtime/log/interval-log.ts";
import { freePort } from "../../harness/free-port.ts";

// The fault tests run for seconds, under the server's one-minute interval: they show "at most
// once". These show "again each interval, with a count", on a short interval.

test("IntervalLog: the first occurrence is logged, then one per interval with the count in between", () => {
  let now = 0;
  const gate = new IntervalLog(1000, () => now);
  assert.deepEqual(gate.take("carbon_down"), { unlogged: 0 });
  now = 10;
  assert.equal(gate.take("carbon_down"), undefined);
  assert.deepEqual(gate.take("spool"), { unlogged: 0 }, "kinds are separate");
  now = 500;
  assert.equal(gate.take("carbon_down"), undefined);
  now = 1000;
  assert.deepEqual(gate.take("carbon_down"), { unlogged: 2 });
  now = -5000;
  assert.deepEqual(gate.take("carbon_down"), { unlogged: 0 }, "a clock that steps back does not silence it");
});

test("a Carbon that stays unreachable is reported again every interval, not on every reconnect attempt", async () => {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: "info" },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const forwarder = new Forwarder({
    // Nothing listens there: every attempt is refused at once.
    carbon: { host: "127.0.0.1", port: await freePort() },
    connections: 2,
    backoff: { initialMs: 20, maxMs: 40, factor: 2, jitter: 0 },
    logIntervalMs: 300,
    log,
  });
  forwarder.start();
  const started = performance.now();
  await delay(1300);
  await forwarder.close(100);
  const elapsed = performance.now() - started;
  const down = lines.filter((line) => line.msg === "Carbon connection down; spooling");
  // About 60 failed attempts (two connections, one every 40 ms).
  assert.ok(down.length >= 3, `reported ${down.length} times in ${elapsed.toFixed(0)} ms`);
  assert.ok(
    down.length <= 1 + Math.ceil(elapsed / 300),
    `${down.length} reports in ${elapsed.toFixed(0)} ms`,
  );
  assert.ok(
    down.slice(1).every((line) => typeof line.unlogged_since === "number" && line.unlogged_since > 0),
    "each reminder says how many attempts failed since the last line",
  );
  assert.match(String(down[0]?.error), /ECONNREFUSED/);
});
