import cron from "node-cron";

/**
 * A cron expression (node-cron syntax: 5 fields, or 6 with seconds first) and the next time it
 * matches after a given instant, in local time.
 *
 * node-cron parses and validates; the next-match walk is ours because node-cron's own runner
 * replays every slot between its last expected run and "now" after a wall-clock jump (one
 * `execution:missed` event per slot, computed one by one). On a Pi without an RTC the first NTP
 * sync steps the clock by hours or months, which would stall the event loop for minutes. Here a
 * jump costs one run.
 *
 * Day of month and day of week must both match (node-cron's rule, not Vixie cron's OR).
 * `L`, `W` and `#` are refused: a collector schedule has no use for them.
 */
export class CronScheduleError extends Error {
  override readonly name = "CronScheduleError";
}

/** Enough day-by-day steps to cross any leap-year-only expression (Feb 29) twice over. */
const MAX_STEPS = 100_000;

export class CronSchedule {
  readonly #seconds: readonly number[];
  readonly #minutes: ReadonlySet<number>;
  readonly #hours: ReadonlySet<number>;
  readonly #daysOfMonth: ReadonlySet<number>;
  readonly #months: ReadonlySet<number>;
  readonly #daysOfWeek: ReadonlySet<number>;

  private constructor(
    readonly expression: string,
    fields: ReturnType<typeof cron.parse>,
  ) {
    this.#seconds = [...fields.second].sort((a, b) => a - b);
    this.#minutes = new Set(fields.minute);
    this.#hours = new Set(fields.hour);
    this.#daysOfMonth = new Set(fields.dayOfMonth as number[]);
    this.#months = new Set(fields.month);
    this.#daysOfWeek = new Set(fields.dayOfWeek as number[]);
  }

  static parse(expression: string): CronSchedule {
    const problem = cronProblem(expression);
    if (problem !== undefined) throw new CronScheduleError(`"${expression}": ${problem}`);
    return new CronSchedule(expression, cron.parse(expression));
  }

  /** The first matching whole second strictly after `afterMs` (Unix ms). */
  next(afterMs: number): number {
    let time = Math.floor(afterMs / 1000) * 1000 + 1000;
    for (let step = 0; step < MAX_STEPS; step++) {
      const date = new Date(time);
      const year = date.getFullYear();
      const month = date.getMonth();
      const day = date.getDate();
      const hour = date.getHours();
      const minute = date.getMinutes();
      if (!this.#months.has(month + 1)) {
        time = later(new Date(year, month + 1, 1), time);
      } else if (!this.#daysOfMonth.has(day) || !this.#daysOfWeek.has(date.getDay())) {
        time = later(new Date(year, month, day + 1), time);
      } else if (!this.#hours.has(hour)) {
        time = later(new Date(year, month, day, hour + 1), time);
      } else if (!this.#minutes.has(minute)) {
        time = later(new Date(year, month, day, hour, minute + 1), time);
      } else {
        const second = this.#seconds.find((candidate) => candidate >= date.getSeconds());
        if (second === date.getSeconds()) return time;
        time =
          second === undefined
            ? later(new Date(year, month, day, hour, minute + 1), time)
            : later(new Date(year, month, day, hour, minute, second), time);
      }
    }
    throw new CronScheduleError(`"${this.expression}": no matching time within reach`);
  }
}

/** Why node-cron (or this module) refuses the expression; undefined when it is fine. */
export function cronProblem(expression: string): string | undefined {
  const detail = cron.validateDetailed(expression);
  if (!detail.valid) {
    return detail.errors.map((error) => error.message).join("; ") || "not a cron expression";
  }
  const fields = cron.parse(expression);
  const special = [...fields.dayOfMonth, ...fields.dayOfWeek].some((value) => typeof value !== "number");
  if (special) return "L, W and # are not supported in collector schedules";
  return undefined;
}

/**
 * Local-time arithmetic can land on or before the current candidate around a DST fall-back (the
 * repeated hour); always move forward.
 */
function later(candidate: Date, current: number): number {
  return Math.max(candidate.getTime(), current + 1000);
}
