import type { CollectedBatch, Collector, Logger } from "../collectors/collector.ts";
import { silentLogger } from "../collectors/collector.ts";
import { systemClock } from "../clock/clock.ts";
import type { Clock, Timer } from "../clock/clock.ts";
import { CronSchedule } from "./cron-schedule.ts";

/**
 * Runs every collector on its own cron schedule.
 *
 * - A collector never overlaps itself: a tick that finds its previous run still going is skipped
 *   and counted (`overlapsSkipped`). The guard is per collector name, so it also holds across a
 *   live `replace()`.
 * - A slow collector never delays the others: runs are independent promises, each with its own
 *   timer; nothing awaits another collector.
 * - A collector error is logged and counted, never fatal.
 * - Wall-clock jumps (the first NTP sync on a Pi) cost one run, never a burst of catch-up runs,
 *   and a clock stepped backwards does not stall the schedule: each timer sleeps at most
 *   `maxSleepMs` before it looks at the clock again.
 */
export interface ScheduledCollector {
  readonly collector: Collector;
  /** node-cron syntax; a leading seconds field is allowed: `*\/10 * * * * *`. */
  readonly schedule: string;
  /** The run's abort signal fires after this long; the run still counts as in flight until it settles. */
  readonly timeoutMs?: number;
}

export interface CollectorRunStats {
  readonly runs: number;
  readonly errors: number;
  /** Ticks skipped because the previous run was still going. */
  readonly overlapsSkipped: number;
  readonly timeouts: number;
  readonly running: boolean;
  readonly lastDurationMs: number | undefined;
  readonly lastError: string | undefined;
  /** Wall-clock ms of the last run's start. */
  readonly lastRunWallMs: number | undefined;
}

export type SchedulerStats = Readonly<Record<string, CollectorRunStats>>;

export interface CollectorSchedulerOptions {
  /** Receives each run's readings (not called for a run that produced none). */
  readonly onBatch: (batch: CollectedBatch) => void;
  readonly clock?: Clock;
  readonly log?: Logger;
  /** Longest a timer sleeps before re-reading the wall clock. Default 60 s. */
  readonly maxSleepMs?: number;
}

interface MutableStats {
  runs: number;
  errors: number;
  overlapsSkipped: number;
  timeouts: number;
  lastDurationMs: number | undefined;
  lastError: string | undefined;
  lastRunWallMs: number | undefined;
  /** Consecutive failures, to log the first of a streak loudly and the rest quietly. */
  failing: number;
  /** Consecutive skipped ticks, likewise. */
  overlapping: number;
}

interface InFlightRun {
  readonly collector: Collector;
  readonly controller: AbortController;
  done: Promise<void>;
  /** Set when the collector was unscheduled mid-run: its abort is then not an error. */
  retired: boolean;
}

const DEFAULT_MAX_SLEEP_MS = 60_000;

export class CollectorScheduler {
  readonly #options: CollectorSchedulerOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #maxSleepMs: number;
  readonly #jobs = new Map<string, Job>();
  readonly #inFlight = new Map<string, InFlightRun>();
  readonly #stats = new Map<string, MutableStats>();
  #stopped = false;

  constructor(options: CollectorSchedulerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log ?? silentLogger;
    this.#maxSleepMs = options.maxSleepMs ?? DEFAULT_MAX_SLEEP_MS;
  }

  /**
   * Makes `entries` the running set. Entries whose collector instance, schedule and timeout are
   * unchanged keep their timers; the rest are re-created; collectors no longer listed are stopped
   * (an in-flight run of a removed or replaced collector is aborted, then the collector is closed).
   * Every schedule is parsed first: a bad one throws and changes nothing.
   */
  replace(entries: readonly ScheduledCollector[]): void {
    if (this.#stopped) throw new Error("scheduler is stopped");
    const parsed = new Map<string, { entry: ScheduledCollector; cron: CronSchedule }>();
    for (const entry of entries) {
      const name = entry.collector.name;
      if (parsed.has(name)) throw new Error(`two collectors are named "${name}"`);
      parsed.set(name, { entry, cron: CronSchedule.parse(entry.schedule) });
    }
    for (const [name, job] of this.#jobs) {
      const next = parsed.get(name)?.entry;
      if (next && sameEntry(next, job.entry)) continue;
      job.stop();
      this.#jobs.delete(name);
      if (next?.collector !== job.entry.collector) this.#retire(name, job.entry.collector);
      if (!next) this.#stats.delete(name);
    }
    for (const [name, { entry, cron }] of parsed) {
      if (this.#jobs.has(name)) continue;
      const job = new Job(entry, cron, this.#clock, this.#maxSleepMs, () => this.#fire(entry));
      this.#jobs.set(name, job);
      job.start();
    }
  }

  /** Runs a collector now, outside its schedule, under the same overlap guard. False if skipped. */
  async runNow(name: string): Promise<boolean> {
    const job = this.#jobs.get(name);
    if (!job) throw new Error(`no collector named "${name}"`);
    const run = this.#fire(job.entry);
    if (!run) return false;
    await run;
    return true;
  }

  stats(): SchedulerStats {
    const result: Record<string, CollectorRunStats> = {};
    for (const [name, stats] of this.#stats) {
      result[name] = {
        runs: stats.runs,
        errors: stats.errors,
        overlapsSkipped: stats.overlapsSkipped,
        timeouts: stats.timeouts,
        running: this.#inFlight.has(name),
        lastDurationMs: stats.lastDurationMs,
        lastError: stats.lastError,
        lastRunWallMs: stats.lastRunWallMs,
      };
    }
    return result;
  }

  /** Stops every timer, aborts runs in flight and waits for them to settle, then closes the collectors. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const [name, job] of this.#jobs) {
      job.stop();
      this.#retire(name, job.entry.collector);
    }
    this.#jobs.clear();
    await Promise.allSettled([...this.#inFlight.values()].map((run) => run.done));
  }

  #statsFor(name: string): MutableStats {
    let stats = this.#stats.get(name);
    if (!stats) {
      stats = {
        runs: 0,
        errors: 0,
        overlapsSkipped: 0,
        timeouts: 0,
        lastDurationMs: undefined,
        lastError: undefined,
        lastRunWallMs: undefined,
        failing: 0,
        overlapping: 0,
      };
      this.#stats.set(name, stats);
    }
    return stats;
  }

  #retire(name: string, collector: Collector): void {
    const run = this.#inFlight.get(name);
    if (run && run.collector === collector) {
      run.retired = true;
      run.controller.abort(new Error("collector unscheduled"));
      void run.done.then(() => closeQuietly(collector, this.#log));
      return;
    }
    closeQuietly(collector, this.#log);
  }

  /** Starts a run unless one is in flight; returns its completion, or undefined when skipped. */
  #fire(entry: ScheduledCollector): Promise<void> | undefined {
    const { collector } = entry;
    const name = collector.name;
    const stats = this.#statsFor(name);
    if (this.#inFlight.has(name)) {
      stats.overlapsSkipped++;
      stats.overlapping++;
      const level = stats.overlapping === 1 ? "warn" : "debug";
      this.#log[level](
        { collector: name, skipped: stats.overlapping },
        "collector still running from its previous tick; tick skipped",
      );
      return undefined;
    }
    stats.overlapping = 0;
    const controller = new AbortController();
    const wallMs = this.#clock.wallNow();
    const monoMs = this.#clock.monoNow();
    stats.lastRunWallMs = wallMs;
    let timedOut = false;
    const timeout =
      entry.timeoutMs === undefined
        ? undefined
        : this.#clock.setTimer(
            () => {
              timedOut = true;
              controller.abort(new Error(`timed out after ${entry.timeoutMs} ms`));
            },
            entry.timeoutMs,
            { unref: true },
          );
    const run: InFlightRun = {
      collector,
      controller,
      retired: false,
      done: Promise.resolve(),
    };
    // In the map before the collector is called, so even a synchronous throw leaves the guard consistent.
    this.#inFlight.set(name, run);
    run.done = (async () => {
      let readings;
      try {
        readings = await collector.collect({ now: wallMs, signal: controller.signal, log: this.#log });
        stats.runs++;
        stats.failing = 0;
      } catch (error) {
        if (run.retired) {
          this.#log.debug({ collector: name }, "unscheduled collector's run ended");
          return;
        }
        stats.errors++;
        stats.failing++;
        if (timedOut) stats.timeouts++;
        const message = error instanceof Error ? error.message : String(error);
        const level = stats.failing === 1 || message !== stats.lastError ? "warn" : "debug";
        stats.lastError = message;
        this.#log[level]({ collector: name, err: error, failing: stats.failing }, "collector run failed");
        return;
      } finally {
        timeout?.cancel();
        stats.lastDurationMs = this.#clock.monoNow() - monoMs;
        if (this.#inFlight.get(name) === run) this.#inFlight.delete(name);
      }
      if (readings.length === 0) return;
      try {
        this.#options.onBatch({ collector: name, readings, wallMs, monoMs });
      } catch (error) {
        this.#log.error({ collector: name, err: error }, "readings could not be handed on");
      }
    })();
    return run.done;
  }
}

function sameEntry(left: ScheduledCollector, right: ScheduledCollector): boolean {
  return (
    left.collector === right.collector &&
    left.schedule === right.schedule &&
    left.timeoutMs === right.timeoutMs
  );
}

function closeQuietly(collector: Collector, log: Logger): void {
  try {
    collector.close?.();
  } catch (error) {
    log.warn({ collector: collector.name, err: error }, "collector did not close cleanly");
  }
}

/** One collector's timer: sleeps until the next cron match (at most `maxSleepMs`), then fires. */
class Job {
  #planned: number | undefined;
  #timer: Timer | undefined;
  #stopped = false;

  constructor(
    readonly entry: ScheduledCollector,
    private readonly cron: CronSchedule,
    private readonly clock: Clock,
    private readonly maxSleepMs: number,
    private readonly fire: () => void,
  ) {}

  start(): void {
    this.#planned = this.cron.next(this.clock.wallNow());
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #arm(): void {
    if (this.#stopped) return;
    const delay = Math.min(Math.max(0, (this.#planned as number) - this.clock.wallNow()), this.maxSleepMs);
    this.#timer = this.clock.setTimer(() => this.#wake(), delay);
  }

  #wake(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    const now = this.clock.wallNow();
    const planned = this.#planned as number;
    if (now >= planned) {
      this.fire();
      // After a forward jump this is the first slot after the new time: one run, no catch-up.
      this.#planned = this.cron.next(Math.max(now, planned));
    } else {
      // Woken early (the sleep cap) or the clock was stepped back: plan again from the clock's time.
      this.#planned = this.cron.next(now);
    }
    this.#arm();
  }
}
