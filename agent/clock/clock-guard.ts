import type { CollectedBatch, Logger } from "../collectors/collector.ts";
import { silentLogger } from "../collectors/collector.ts";
import { BUILD_TIME_SECONDS } from "./build-time.ts";
import { systemClock } from "./clock.ts";
import type { Clock, Timer } from "./clock.ts";
import type { SyncCheck } from "./sync-check.ts";

/**
 * No reading leaves with a wrong timestamp. Until the clock is trusted (synchronized, and not
 * earlier than the build time), batches are held in memory with the monotonic time of their run.
 * When the clock becomes trusted they are stamped backwards from it:
 *
 *   wall(run) = wallAtTrust - (monoAtTrust - monoAtRun)
 *
 * A batch held longer than `maxHoldMs`, or pushed out by `maxHeldReadings`, is dropped and counted.
 * Once trusted, the clock stays trusted for the life of the process (NTP only slews it after that).
 */
export const ClockDropReason = {
  /** Held longer than `clock.max_hold` without the clock becoming trusted. */
  UnsyncedTimeout: "clock_unsynced_timeout",
  /** Pushed out, oldest first, because more than `clock.max_held_readings` were waiting. */
  HoldOverflow: "clock_hold_overflow",
} as const;
export type ClockDropReason = (typeof ClockDropReason)[keyof typeof ClockDropReason];

export interface StampedReading {
  readonly name: string;
  readonly value: number;
  /** Whole Unix seconds. */
  readonly timestamp: number;
}

export interface StampedBatch {
  readonly collector: string;
  readonly readings: readonly StampedReading[];
  /** True when the batch waited for the clock and was stamped from the monotonic clock. */
  readonly restamped: boolean;
}

export interface ClockGuardOptions {
  readonly isSynchronized: SyncCheck;
  /** Receives every batch once it has trustworthy timestamps: at once, or when the clock syncs. */
  readonly onStamped: (batch: StampedBatch) => void;
  /** Told about every drop, so the agent's dropped-lines counters include them. */
  readonly onDropped?: (reason: ClockDropReason, readings: number) => void;
  readonly maxHoldMs: number;
  readonly maxHeldReadings: number;
  /** How often the sync check runs while the clock is not trusted. */
  readonly pollIntervalMs: number;
  readonly clock?: Clock;
  readonly buildTimeSeconds?: number;
  readonly log?: Logger;
}

export interface ClockGuardStats {
  readonly trusted: boolean;
  readonly heldBatches: number;
  readonly heldReadings: number;
  readonly dropped: Readonly<Record<ClockDropReason, number>>;
  /** Monotonic ms when the clock became trusted. */
  readonly trustedSinceMono: number | undefined;
}

/**
 * A re-stamped time is the wall clock at the moment of trust (Date.now: whole milliseconds, cut
 * down) minus a monotonic interval (fractional), so it comes out up to a millisecond or two early,
 * plus whatever the two clocks drifted apart meanwhile. Cron runs start on whole seconds: a run at
 * 12:00:10.000 re-stamped as 12:00:09.9995 would land in the previous second (and on a 1 s
 * schedule, on the previous run's whisper slot). A re-stamped time this close below a whole second
 * is taken to be that second.
 */
const RESTAMP_SLACK_SECONDS = 0.005;

export class ClockGuard {
  readonly #options: ClockGuardOptions;
  readonly #clock: Clock;
  readonly #buildTimeMs: number;
  readonly #log: Logger;
  #held: CollectedBatch[] = [];
  #heldReadings = 0;
  #synced = false;
  /** Wall minus monotonic at the moment of trust: wall(mono) = mono + offset. */
  #offset: number | undefined;
  #trustedSinceMono: number | undefined;
  #timer: Timer | undefined;
  #running = false;
  #checking: Promise<boolean> | undefined;
  #warnedEarlyClock = false;
  readonly #dropped: Record<ClockDropReason, number> = {
    [ClockDropReason.UnsyncedTimeout]: 0,
    [ClockDropReason.HoldOverflow]: 0,
  };

  constructor(options: ClockGuardOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#buildTimeMs = (options.buildTimeSeconds ?? BUILD_TIME_SECONDS) * 1000;
    this.#log = options.log ?? silentLogger;
  }

  get trusted(): boolean {
    return this.#offset !== undefined && this.#clock.wallNow() >= this.#buildTimeMs;
  }

  /** Stamps the batch and hands it on, or holds it until the clock is trusted. */
  accept(batch: CollectedBatch): void {
    this.#expire();
    if (this.trusted) {
      this.#options.onStamped(this.#stamp(batch));
      return;
    }
    this.#hold(batch);
    if (this.#running && !this.#timer && !this.#checking) this.#schedulePoll(0);
  }

  /**
   * Runs the sync check once. When the clock turns trusted, every held batch is stamped and handed
   * on, oldest first. Returns whether the clock is trusted.
   */
  check(): Promise<boolean> {
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  /** Polls the sync check until the clock is trusted. */
  start(): void {
    this.#running = true;
    if (!this.trusted) this.#schedulePoll(0);
  }

  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  stats(): ClockGuardStats {
    return {
      trusted: this.trusted,
      heldBatches: this.#held.length,
      heldReadings: this.#heldReadings,
      dropped: { ...this.#dropped },
      trustedSinceMono: this.#trustedSinceMono,
    };
  }

  async #check(): Promise<boolean> {
    if (!this.#synced) {
      try {
        this.#synced = await this.#options.isSynchronized();
      } catch (error) {
        this.#log.warn({ err: error }, "clock: sync check failed");
      }
    }
    const wall = this.#clock.wallNow();
    if (this.#synced && this.#offset === undefined && wall >= this.#buildTimeMs) {
      const mono = this.#clock.monoNow();
      this.#offset = wall - mono;
      this.#trustedSinceMono = mono;
      this.#log.info(
        { heldBatches: this.#held.length, heldReadings: this.#heldReadings },
        "clock: synchronized; stamping held readings",
      );
    } else if (this.#synced && wall < this.#buildTimeMs && !this.#warnedEarlyClock) {
      this.#warnedEarlyClock = true;
      this.#log.warn(
        { clock: new Date(wall).toISOString(), buildTime: new Date(this.#buildTimeMs).toISOString() },
        "clock: reported synchronized but earlier than the build time; not trusted",
      );
    }
    this.#expire();
    if (this.trusted) this.#release();
    return this.trusted;
  }

  #schedulePoll(delayMs: number): void {
    this.#timer?.cancel();
    this.#timer = this.#clock.setTimer(
      () => {
        this.#timer = undefined;
        void this.check().then((trusted) => {
          if (this.#running && (!trusted || this.#held.length > 0))
            this.#schedulePoll(this.#options.pollIntervalMs);
        });
      },
      delayMs,
      { unref: true },
    );
  }

  #hold(batch: CollectedBatch): void {
    const { maxHeldReadings } = this.#options;
    if (batch.readings.length > maxHeldReadings) {
      this.#drop(ClockDropReason.HoldOverflow, batch.readings.length);
      return;
    }
    this.#held.push(batch);
    this.#heldReadings += batch.readings.length;
    while (this.#heldReadings > maxHeldReadings) {
      const oldest = this.#held.shift() as CollectedBatch;
      this.#heldReadings -= oldest.readings.length;
      this.#drop(ClockDropReason.HoldOverflow, oldest.readings.length);
    }
  }

  #expire(): void {
    const cutoff = this.#clock.monoNow() - this.#options.maxHoldMs;
    while (this.#held.length > 0 && (this.#held[0] as CollectedBatch).monoMs < cutoff) {
      const oldest = this.#held.shift() as CollectedBatch;
      this.#heldReadings -= oldest.readings.length;
      this.#drop(ClockDropReason.UnsyncedTimeout, oldest.readings.length);
    }
  }

  #drop(reason: ClockDropReason, readings: number): void {
    if (readings === 0) return;
    this.#dropped[reason] += readings;
    this.#options.onDropped?.(reason, readings);
  }

  #release(): void {
    const held = this.#held;
    this.#held = [];
    this.#heldReadings = 0;
    for (const batch of held) {
      // One failing hand-off must not lose the batches after it.
      try {
        this.#options.onStamped(this.#stamp(batch));
      } catch (error) {
        this.#log.error(
          { collector: batch.collector, err: error },
          "clock: stamped readings could not be handed on",
        );
      }
    }
  }

  #stamp(batch: CollectedBatch): StampedBatch {
    const offset = this.#offset as number;
    // A run that started before the moment of trust read an untrusted wall clock: rebuild its time
    // from the monotonic clock. Readings carrying their own timestamp keep their age relative to it.
    const restamped = this.#trustedSinceMono === undefined || batch.monoMs < this.#trustedSinceMono;
    const runWallMs = restamped ? batch.monoMs + offset : batch.wallMs;
    const runSeconds = runWallMs / 1000;
    const readings = batch.readings.map((reading) => {
      const seconds =
        reading.timestamp === undefined
          ? runSeconds
          : restamped
            ? runSeconds - (batch.wallMs / 1000 - reading.timestamp)
            : reading.timestamp;
      return {
        name: reading.name,
        value: reading.value,
        timestamp: Math.floor(restamped ? seconds + RESTAMP_SLACK_SECONDS : seconds),
      };
    });
    return { collector: batch.collector, readings, restamped };
  }
}
