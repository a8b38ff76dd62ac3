import { monotonicMs } from "../../runtime/clock/monotonic.ts";

/** Event-loop lag since the last take: how much later than its period a tick came, in ms. */
export interface LagSummary {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Calls `tick` every `periodMs` until the returned function is called. */
export type Repeat = (tick: () => void, periodMs: number) => () => void;

export interface EventLoopLagSamplerOptions {
  readonly periodMs: number;
  /** Ticks kept for the percentiles between two takes (default: 10 minutes of 100 ms ticks). */
  readonly capacity?: number;
  /** Injected for tests. */
  readonly monoNow?: () => number;
  /** Injected for tests; an unref'd setInterval by default. */
  readonly repeat?: Repeat;
}

const DEFAULT_CAPACITY = 6000;

const unrefInterval: Repeat = (tick, periodMs) => {
  const timer = setInterval(tick, periodMs);
  timer.unref();
  return () => clearInterval(timer);
};

/**
 * What perf_hooks' monitorEventLoopDelay measures, without loading perf_hooks (with its histogram
 * and the rest of internal/perf: RSS a long-running agent would carry for nothing): a timer every
 * `periodMs`, each tick's lag the time since the previous tick beyond the period. Node schedules an
 * interval's next tick from when the late one fired, so a blocked loop shows as one late tick, not
 * as a run of them.
 */
export class EventLoopLagSampler {
  readonly #periodMs: number;
  readonly #monoNow: () => number;
  readonly #repeat: Repeat;
  /**
   * A ring: past `capacity` ticks between two takes the oldest are overwritten, so the percentiles
   * describe the latest `capacity` ticks while the max still covers all of them.
   */
  readonly #lagsMs: Float64Array;
  #ticks = 0;
  #maxMs = 0;
  #lastTickMs = 0;
  #stop: (() => void) | undefined;

  constructor(options: EventLoopLagSamplerOptions) {
    this.#periodMs = options.periodMs;
    this.#monoNow = options.monoNow ?? monotonicMs;
    this.#repeat = options.repeat ?? unrefInterval;
    this.#lagsMs = new Float64Array(options.capacity ?? DEFAULT_CAPACITY);
  }

  start(): void {
    if (this.#stop !== undefined) return;
    this.#lastTickMs = this.#monoNow();
    this.#stop = this.#repeat(() => this.#tick(), this.#periodMs);
  }

  stop(): void {
    this.#stop?.();
    this.#stop = undefined;
  }

  /** The lag since the previous take (undefined if no tick came since), and starts over. */
  take(): LagSummary | undefined {
    const kept = Math.min(this.#ticks, this.#lagsMs.length);
    if (kept === 0) return undefined;
    const sorted = this.#lagsMs.subarray(0, kept).sort();
    const summary = { p50Ms: nearestRank(sorted, 50), p99Ms: nearestRank(sorted, 99), maxMs: this.#maxMs };
    this.#ticks = 0;
    this.#maxMs = 0;
    return summary;
  }

  #tick(): void {
    const now = this.#monoNow();
    const lagMs = Math.max(0, now - this.#lastTickMs - this.#periodMs);
    this.#lastTickMs = now;
    this.#lagsMs[this.#ticks % this.#lagsMs.length] = lagMs;
    this.#ticks++;
    if (lagMs > this.#maxMs) this.#maxMs = lagMs;
  }
}

/** The smallest value with at least `percent` % of the values at or below it. */
function nearestRank(sorted: Float64Array, percent: number): number {
  const rank = Math.max(1, Math.ceil((percent / 100) * sorted.length));
  return sorted[rank - 1] as number;
}
