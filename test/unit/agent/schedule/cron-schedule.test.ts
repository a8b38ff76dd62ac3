import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import cron from "node-cron";
import { CronSchedule, CronScheduleError, cronProblem } from "../../../../agent/schedule/cron-schedule.ts";

/** Local time, as cron reads it. */
function local(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number {
  return new Date(year, month - 1, day, hour, minute, second, ms).getTime();
}

describe("CronSchedule", () => {
  it("finds the next matching second, strictly after the given instant", () => {
    const every10 = CronSchedule.parse("*/10 * * * * *");
    assert.equal(every10.next(local(2026, 11, 23, 12, 0, 3, 500)), local(2026, 11, 23, 12, 0, 10));
    assert.equal(every10.next(local(2026, 11, 23, 12, 0, 10)), local(2026, 11, 23, 12, 0, 20));
    assert.equal(every10.next(local(2026, 12, 31, 23, 59, 55)), local(2027, 1, 1, 0, 0, 0));
  });

  it("treats a 5-field expression as minutes, at second 0", () => {
    const every5min = CronSchedule.parse("*/5 * * * *");
    assert.equal(every5min.next(local(2026, 11, 23, 12, 3, 59)), local(2026, 11, 23, 12, 5, 0));
  });

  it("requires day of month and day of week to both match, as node-cron does", () => {
    // 2026-11-27 is a Friday; the next weekday 03:00 after Friday 04:00 is Monday 2026-11-30.
    assert.equal(CronSchedule.parse("0 3 * * mon-fri").next(local(2026, 11, 27, 4)), local(2026, 11, 30, 3));
    // The 13th that is a Friday, after November 2026: August 2027.
    assert.equal(CronSchedule.parse("0 0 13 * 5").next(local(2026, 11, 23)), local(2027, 8, 13));
  });

  it("reaches a leap day", () => {
    assert.equal(CronSchedule.parse("0 0 29 2 *").next(local(2026, 11, 23)), local(2028, 2, 29));
  });

  it("refuses what node-cron refuses, and L/W/#", () => {
    assert.match(cronProblem("61 * * * * *") ?? "", /61/);
    assert.match(cronProblem("* * *") ?? "", /5 or 6 fields/);
    assert.match(cronProblem("0 0 L * *") ?? "", /L, W and #/);
    assert.equal(cronProblem("*/10 * * * * *"), undefined);
    assert.throws(() => CronSchedule.parse("nonsense"), CronScheduleError);
  });

  it("agrees with node-cron's own matcher: the result matches and no second before it does", () => {
    const list = (max: number) =>
      fc
        .uniqueArray(fc.integer({ min: 0, max }), { minLength: 1, maxLength: 4 })
        .map((values) => values.join(","));
    const step = (max: number) => fc.integer({ min: 1, max: Math.min(30, max) }).map((every) => `*/${every}`);
    const field = (max: number) => fc.oneof(fc.constant("*"), list(max), step(max));
    const expression = fc
      .tuple(field(59), field(59))
      .map(([second, minute]) => `${second} ${minute} * * * *`);
    const start = fc.integer({ min: local(2026, 1, 1), max: local(2030, 1, 1) });
    fc.assert(
      fc.property(expression, start, (text, after) => {
        const task = cron.createTask(text, () => {});
        try {
          const next = CronSchedule.parse(text).next(after);
          assert.ok(next > after);
          assert.ok(task.match(new Date(next)), `${text}: ${new Date(next).toISOString()} should match`);
          for (let second = Math.floor(after / 1000) + 1; second < next / 1000; second++) {
            assert.ok(
              !task.match(new Date(second * 1000)),
              `${text}: skipped ${new Date(second * 1000).toISOString()}`,
            );
          }
        } finally {
          void task.destroy();
        }
      }),
      { numRuns: 100 },
    );
  });
});
