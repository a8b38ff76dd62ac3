/**
 * The contract every collector implements. The scheduler calls `collect` on the collector's own
 * schedule; the clock guard stamps what it returns; the main loop turns it into signed lines.
 */

/** One value read by a collector. */
export interface Reading {
  /** Metric name relative to `<prefix>.<collector>`, dot-separated segments; sanitized when formatted. */
  readonly name: string;
  /** Must be finite; NaN and ±Infinity are dropped (and counted) when formatted. */
  readonly value: number;
  /**
   * Unix seconds, only when the source gave its own time (an exec line's third field). Without it
   * the reading takes the time its collector run started.
   */
  readonly timestamp?: number;
}

/** The subset of pino's API the agent's modules use, so tests can pass a recording logger. */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

export interface CollectContext {
  /** Wall-clock milliseconds when this run started (possibly unsynchronized; see agent/clock/). */
  readonly now: number;
  /** Aborted when the run times out or the collector is unscheduled; long work must stop then. */
  readonly signal: AbortSignal;
  readonly log: Logger;
}

export interface Collector {
  /**
   * The metric segment(s) after the prefix, and the collector's identity in the scheduler:
   * `system`, `pi`, `net`, `self`, `exec.<name>`.
   */
  readonly name: string;
  /**
   * Problems that only affect some readings (a missing file, one dead sensor, one bad exec line)
   * are logged and skipped; a failure of the whole run throws, and the scheduler counts it.
   */
  collect(context: CollectContext): Promise<Reading[]>;
  /** Releases what the collector holds (a histogram, a socket). The scheduler calls it when the
   * collector is unscheduled, after its last run has settled. */
  close?(): void;
}

/** What one collector run produced, with both clocks read when the run started. */
export interface CollectedBatch {
  readonly collector: string;
  readonly readings: readonly Reading[];
  /** Wall-clock ms at the start of the run; wrong if the clock was not yet synchronized. */
  readonly wallMs: number;
  /** Monotonic ms at the start of the run (Clock.monoNow). */
  readonly monoMs: number;
}
