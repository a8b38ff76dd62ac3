import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BUILD_TIME_SECONDS } from "../../../../agent/clock/build-time.ts";
import { ClockDropReason, ClockGuard } from "../../../../agent/clock/clock-guard.ts";
import type { StampedBatch } from "../../../../agent/clock/clock-guard.ts";
import type { CollectedBatch, Reading } from "../../../../agent/collectors/collector.ts";
import { FakeClock, RecordingLogger } from "../collect-fakes.ts";

const TRUE_NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
/** Where a Pi without an RTC comes up: the time saved at its last shutdown, 18 days ago. */
const SAVED_CLOCK = Date.UTC(2026, 10, 5, 8, 30, 0);
const BUILD_TIME = Date.UTC(2026, 10, 1) / 1000;

function harness(options: {
  wallStart: number;
  synced: () => boolean;
  maxHoldMs?: number;
  maxHeldReadings?: number;
}) {
  const clock = new FakeClock(options.wallStart);
  const stamped: StampedBatch[] = [];
  const drops: [string, number][] = [];
  const log = new RecordingLogger();
  const guard = new ClockGuard({
    isSynchronized: async () => options.synced(),
    onStamped: (batch) => stamped.push(batch),
    onDropped: (reason, count) => drops.push([reason, count]),
    maxHoldMs: options.maxHoldMs ?? 6 * 3600_000,
    maxHeldReadings: options.maxHeldReadings ?? 1000,
    pollIntervalMs: 10_000,
    clock,
    buildTimeSeconds: BUILD_TIME,
    log,
  });
  /** What the scheduler would hand over for a run starting now. */
  const collect = (readings: Reading[], collector = "system"): CollectedBatch => ({
    collector,
    readings,
    wallMs: clock.wallNow(),
    monoMs: clock.monoNow(),
  });
  return { clock, guard, stamped, drops, log, collect };
}

describe("ClockGuard", () => {
  it("stamps at once with the run's wall time when the clock is synchronized", async () => {
    const { guard, stamped, collect } = harness({ wallStart: TRUE_NOW, synced: () => true });
    assert.equal(await guard.check(), true);
    guard.accept(collect([{ name: "load.1m", value: 0.5 }]));
    assert.deepEqual(stamped, [
      {
        collector: "system",
        readings: [{ name: "load.1m", value: 0.5, timestamp: TRUE_NOW / 1000 }],
        restamped: false,
      },
    ]);
  });

  it("holds readings taken before the sync and re-stamps them with the true time afterwards", async () => {
    let synced = false;
    const { clock, guard, stamped, collect } = harness({ wallStart: SAVED_CLOCK, synced: () => synced });
    assert.equal(await guard.check(), false);

    // Three runs, 10 s apart, while the clock still says 5 November.
    guard.accept(collect([{ name: "t", value: 1 }]));
    await clock.advance(10_000);
    guard.accept(collect([{ name: "t", value: 2 }]));
    await clock.advance(10_000);
    // An exec line that carried its own timestamp, 5 s before the run (by the wrong clock).
    guard.accept(collect([{ name: "t", value: 3, timestamp: Math.floor(clock.wallNow() / 1000) - 5 }]));
    assert.equal(stamped.length, 0, "nothing leaves with the wrong time");
    assert.equal(guard.stats().heldReadings, 3);

    // 25 s after the first run, NTP steps the clock to the truth.
    await clock.advance(5_000);
    clock.stepWall(TRUE_NOW + 25_000 - clock.wallNow());
    synced = true;
    assert.equal(await guard.check(), true);

    const times = stamped.flatMap((batch) =>
      batch.readings.map((reading) => reading.timestamp - TRUE_NOW / 1000),
    );
    assert.deepEqual(times, [0, 10, 15]);
    assert.ok(stamped.every((batch) => batch.restamped));
    assert.equal(guard.stats().heldReadings, 0);

    guard.accept(collect([{ name: "t", value: 4 }]));
    assert.equal(stamped.at(-1)?.readings[0]?.timestamp, TRUE_NOW / 1000 + 25);
    assert.equal(stamped.at(-1)?.restamped, false);
  });

  it("re-stamps a run that started before the sync but finished after it", async () => {
    let synced = false;
    const { clock, guard, stamped, collect } = harness({ wallStart: SAVED_CLOCK, synced: () => synced });
    const run = collect([{ name: "ping.rtt_ms", value: 12 }]);
    await clock.advance(3_000);
    clock.stepWall(TRUE_NOW + 3_000 - clock.wallNow());
    synced = true;
    await guard.check();
    guard.accept(run);
    assert.equal(stamped[0]?.readings[0]?.timestamp, TRUE_NOW / 1000);
    assert.equal(stamped[0]?.restamped, true);
  });

  it("never trusts a clock earlier than the build time, even when told it is synchronized", async () => {
    const epoch = 0;
    const { clock, guard, stamped, log, collect } = harness({ wallStart: epoch, synced: () => true });
    assert.equal(BUILD_TIME_SECONDS > Date.UTC(2026, 0, 1) / 1000, true, "the source build time is recent");
    assert.equal(await guard.check(), false);
    guard.accept(collect([{ name: "x", value: 1 }]));
    assert.equal(stamped.length, 0);
    assert.equal(log.at("warn").length, 1);

    await clock.advance(7_000);
    clock.stepWall(TRUE_NOW - clock.wallNow());
    assert.equal(await guard.check(), true);
    assert.equal(stamped[0]?.readings[0]?.timestamp, TRUE_NOW / 1000 - 7);
  });

  it("drops and counts readings held longer than max_hold", async () => {
    const { clock, guard, stamped, drops, collect } = harness({
      wallStart: SAVED_CLOCK,
      synced: () => false,
      maxHoldMs: 60_000,
    });
    guard.accept(
      collect([
        { name: "a", value: 1 },
        { name: "b", value: 2 },
      ]),
    );
    await clock.advance(30_000);
    guard.accept(collect([{ name: "c", value: 3 }]));
    await clock.advance(40_000);
    await guard.check();
    assert.deepEqual(drops, [[ClockDropReason.UnsyncedTimeout, 2]]);
    assert.equal(guard.stats().dropped.clock_unsynced_timeout, 2);
    assert.equal(guard.stats().heldReadings, 1, "the younger batch is still held");
    await clock.advance(30_000);
    await guard.check();
    assert.equal(guard.stats().dropped.clock_unsynced_timeout, 3);
    assert.equal(stamped.length, 0);
  });

  it("bounds what it holds, dropping the oldest first", () => {
    const { guard, drops, collect } = harness({
      wallStart: SAVED_CLOCK,
      synced: () => false,
      maxHeldReadings: 5,
    });
    guard.accept(collect([1, 2, 3].map((value) => ({ name: "old", value }))));
    guard.accept(collect([4, 5, 6].map((value) => ({ name: "new", value }))));
    assert.deepEqual(drops, [[ClockDropReason.HoldOverflow, 3]]);
    assert.equal(guard.stats().heldReadings, 3);
    guard.accept(collect(Array.from({ length: 6 }, (_, value) => ({ name: "huge", value }))));
    assert.equal(guard.stats().dropped.clock_hold_overflow, 9);
  });

  it("polls on its own once started and releases when the check turns true", async () => {
    let checks = 0;
    const { clock, guard, stamped, collect } = harness({ wallStart: TRUE_NOW, synced: () => ++checks >= 4 });
    guard.start();
    guard.accept(collect([{ name: "x", value: 1 }]));
    await clock.advance(25_000);
    assert.equal(stamped.length, 0);
    await clock.advance(10_000);
    assert.equal(stamped.length, 1);
    assert.equal(stamped[0]?.readings[0]?.timestamp, TRUE_NOW / 1000);
    const checksWhenTrusted = checks;
    await clock.advance(120_000);
    assert.equal(checks, checksWhenTrusted, "no more checks once trusted");
    guard.stop();
    assert.equal(clock.pendingTimers, 0);
  });
});
