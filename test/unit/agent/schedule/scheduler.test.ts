import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type {
  CollectContext,
  CollectedBatch,
  Collector,
  Reading,
} from "../../../../agent/collectors/collector.ts";
import { CollectorScheduler } from "../../../../agent/schedule/scheduler.ts";
import { FakeClock, RecordingLogger, settle } from "../collect-fakes.ts";

// 2026-11-23 12:00:00.000 UTC; cron matching is in local time, and every schedule here is in
// seconds or minutes, which no time zone offset changes.
const START = Date.UTC(2026, 10, 23, 12, 0, 0);

/** A collector whose runs finish when the test says (or at once), recording each start. */
class TestCollector implements Collector {
  readonly starts: CollectContext[] = [];
  readonly pending: { resolve: (readings: Reading[]) => void; reject: (error: Error) => void }[] = [];
  closed = false;

  constructor(
    readonly name: string,
    private readonly behaviour: "instant" | "manual" | "fail" | "honours-abort" = "instant",
  ) {}

  collect(context: CollectContext): Promise<Reading[]> {
    this.starts.push(context);
    if (this.behaviour === "instant") return Promise.resolve([{ name: "runs", value: this.starts.length }]);
    if (this.behaviour === "fail") return Promise.reject(new Error(`boom ${this.starts.length}`));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      if (this.behaviour === "honours-abort") {
        context.signal.addEventListener("abort", () => reject(context.signal.reason as Error), {
          once: true,
        });
      }
    });
  }

  close(): void {
    this.closed = true;
  }
}

function setup(maxSleepMs?: number) {
  const clock = new FakeClock(START);
  const log = new RecordingLogger();
  const batches: CollectedBatch[] = [];
  const scheduler = new CollectorScheduler({
    clock,
    log,
    maxSleepMs,
    onBatch: (batch) => batches.push(batch),
  });
  return { clock, log, batches, scheduler };
}

describe("CollectorScheduler", () => {
  it("runs each collector on its own cron schedule, seconds field included", async () => {
    const { clock, batches, scheduler } = setup();
    const fast = new TestCollector("fast");
    const slow = new TestCollector("slower");
    scheduler.replace([
      { collector: fast, schedule: "*/10 * * * * *" },
      { collector: slow, schedule: "*/20 * * * * *" },
    ]);
    await clock.advance(60_000);
    assert.equal(fast.starts.length, 6);
    assert.equal(slow.starts.length, 3);
    const fastTimes = batches
      .filter((batch) => batch.collector === "fast")
      .map((batch) => batch.wallMs - START);
    assert.deepEqual(fastTimes, [10_000, 20_000, 30_000, 40_000, 50_000, 60_000]);
    assert.equal(scheduler.stats().fast?.runs, 6);
    await scheduler.stop();
  });

  it("never overlaps a slow collector with itself and never lets it delay the others", async () => {
    const { clock, scheduler } = setup();
    const slow = new TestCollector("slow", "manual");
    const fast = new TestCollector("fast");
    scheduler.replace([
      { collector: slow, schedule: "*/10 * * * * *" },
      { collector: fast, schedule: "*/10 * * * * *" },
    ]);
    await clock.advance(40_000);
    // The slow collector started at 10 s and is still running: ticks at 20, 30, 40 s were skipped.
    assert.equal(slow.starts.length, 1);
    assert.equal(fast.starts.length, 4);
    assert.equal(scheduler.stats().slow?.overlapsSkipped, 3);
    assert.equal(scheduler.stats().slow?.running, true);

    slow.pending[0]?.resolve([]);
    await clock.advance(10_000);
    assert.equal(slow.starts.length, 2, "runs again at the first tick after finishing");
    assert.equal(fast.starts.length, 5);
    slow.pending[1]?.resolve([]);
    await scheduler.stop();
  });

  it("logs and counts a collector error and keeps running it and the others", async () => {
    const { clock, log, batches, scheduler } = setup();
    const failing = new TestCollector("failing", "fail");
    const healthy = new TestCollector("healthy");
    scheduler.replace([
      { collector: failing, schedule: "*/10 * * * * *" },
      { collector: healthy, schedule: "*/10 * * * * *" },
    ]);
    await clock.advance(30_000);
    const stats = scheduler.stats();
    assert.equal(stats.failing?.errors, 3);
    assert.equal(stats.failing?.runs, 0);
    assert.equal(stats.failing?.lastError, "boom 3");
    assert.equal(stats.healthy?.runs, 3);
    assert.equal(batches.length, 3);
    const warnings = log.at("warn").filter((entry) => entry.fields.collector === "failing");
    assert.ok(warnings.length >= 1, "the first failure is a warning");
    assert.equal(
      log.entries.filter((entry) => entry.fields.collector === "failing").length,
      3,
      "every failure is logged",
    );
    await scheduler.stop();
  });

  it("aborts a run's signal at its timeout and counts the timeout", async () => {
    const { clock, scheduler } = setup();
    const stuck = new TestCollector("stuck", "honours-abort");
    scheduler.replace([{ collector: stuck, schedule: "*/10 * * * * *", timeoutMs: 3_000 }]);
    await clock.advance(13_000);
    const stats = scheduler.stats().stuck;
    assert.equal(stats?.timeouts, 1);
    assert.equal(stats?.errors, 1);
    assert.equal(stats?.running, false);
    assert.match(stats?.lastError ?? "", /timed out after 3000 ms/);
    await scheduler.stop();
  });

  it("replaces schedules live: changed ones are re-created, removed ones stop and close", async () => {
    const { clock, scheduler } = setup();
    const kept = new TestCollector("kept");
    const removed = new TestCollector("removed");
    scheduler.replace([
      { collector: kept, schedule: "*/10 * * * * *" },
      { collector: removed, schedule: "*/10 * * * * *" },
    ]);
    await clock.advance(20_000);
    assert.equal(kept.starts.length, 2);

    scheduler.replace([{ collector: kept, schedule: "*/5 * * * * *" }]);
    assert.equal(removed.closed, true);
    assert.equal(kept.closed, false, "same instance, new schedule: not closed");
    await clock.advance(20_000);
    assert.equal(kept.starts.length, 6, "every 5 s now");
    assert.equal(removed.starts.length, 2, "no run after removal");
    assert.equal(scheduler.stats().removed, undefined);

    assert.throws(() => scheduler.replace([{ collector: kept, schedule: "every minute" }]), /every minute/);
    await clock.advance(10_000);
    assert.equal(kept.starts.length, 8, "a refused replace changes nothing");
    await scheduler.stop();
    assert.equal(kept.closed, true);
  });

  it("keeps the overlap guard across a replace: a new instance waits for the old run to end", async () => {
    const { clock, scheduler } = setup();
    const old = new TestCollector("net", "manual");
    scheduler.replace([{ collector: old, schedule: "*/10 * * * * *" }]);
    await clock.advance(10_000);
    assert.equal(old.starts.length, 1);

    const fresh = new TestCollector("net");
    scheduler.replace([{ collector: fresh, schedule: "*/10 * * * * *" }]);
    assert.equal(old.starts[0]?.signal.aborted, true, "the old instance's run is told to stop");
    await clock.advance(10_000);
    assert.equal(fresh.starts.length, 0, "skipped while the old run is in flight");

    old.pending[0]?.reject(new Error("aborted"));
    await settle();
    assert.equal(old.closed, true, "closed once its run settled");
    await clock.advance(10_000);
    assert.equal(fresh.starts.length, 1);
    assert.equal(scheduler.stats().net?.errors, 0, "the retired run's abort is not an error");
    await scheduler.stop();
  });

  it("makes one run, not a catch-up burst, when NTP steps the clock months ahead", async () => {
    const { clock, scheduler } = setup();
    const collector = new TestCollector("system");
    scheduler.replace([{ collector, schedule: "*/10 * * * * *" }]);
    await clock.advance(10_000);
    assert.equal(collector.starts.length, 1);

    clock.stepWall(90 * 24 * 3600 * 1000);
    const started = performance.now();
    await clock.advance(10_000);
    assert.equal(collector.starts.length, 2, "exactly one run for the jump");
    assert.ok(performance.now() - started < 1_000, "no slot-by-slot replay");
    await clock.advance(30_000);
    assert.equal(collector.starts.length, 5, "then every 10 s again");
    const last = collector.starts.at(-1)?.now ?? 0;
    assert.equal(new Date(last).getUTCSeconds() % 10, 0, "back on the :00/:10 grid");
    await scheduler.stop();
  });

  it("keeps running at its cadence when the clock is stepped back an hour", async () => {
    const { clock, scheduler } = setup();
    const collector = new TestCollector("system");
    scheduler.replace([{ collector, schedule: "*/10 * * * * *" }]);
    await clock.advance(20_000);
    assert.equal(collector.starts.length, 2);

    clock.stepWall(-3600 * 1000);
    await clock.advance(60_000);
    assert.ok(
      collector.starts.length >= 7,
      `ran ${collector.starts.length} times; a stalled schedule would not run`,
    );
    await scheduler.stop();
  });

  it("notices a jump within the sleep cap even for a rare schedule", async () => {
    const { clock, scheduler } = setup(60_000);
    const collector = new TestCollector("hourly");
    scheduler.replace([{ collector, schedule: "0 0 * * * *" }]);
    // Next run at 13:00. Step the clock to 12:59:30: the run must come within the 60 s sleep cap, not in an hour.
    clock.stepWall(59 * 60_000 + 30_000);
    await clock.advance(61_000 + 30_000);
    assert.equal(collector.starts.length, 1);
    await scheduler.stop();
  });

  it("runs a collector on demand under the same guard", async () => {
    const { scheduler } = setup();
    const slow = new TestCollector("slow", "manual");
    scheduler.replace([{ collector: slow, schedule: "0 0 * * * *" }]);
    const first = scheduler.runNow("slow");
    assert.equal(await scheduler.runNow("slow"), false, "skipped while the first is running");
    slow.pending[0]?.resolve([{ name: "x", value: 1 }]);
    assert.equal(await first, true);
    await scheduler.stop();
  });

  it("refuses two collectors with one name", () => {
    const { scheduler } = setup();
    assert.throws(
      () =>
        scheduler.replace([
          { collector: new TestCollector("a"), schedule: "* * * * *" },
          { collector: new TestCollector("a"), schedule: "* * * * *" },
        ]),
      /two collectors are named "a"/,
    );
  });
});
