import { monotonicMs } from "../clock/monotonic.ts";

/**
 * Says what is wrong once per interval, not once per event: a Carbon that resets every connection,
 * a disk that fails every write or a certificate that stays expired each get one log line per
 * interval per kind, with how many times it happened in between. Injected clock, no timers.
 */
export const DEFAULT_LOG_INTERVAL_MS = 60_000;

export class IntervalLog {
  private readonly kinds = new Map<string, { loggedAtMs: number; since: number }>();

  constructor(
    private readonly intervalMs: number = DEFAULT_LOG_INTERVAL_MS,
    private readonly clock: () => number = monotonicMs,
    /** Kinds remembered at once; past it the one logged longest ago is forgotten. */
    private readonly maxKinds: number = Number.POSITIVE_INFINITY,
  ) {}

  /**
   * Records one occurrence of `kind`. Returns undefined when it should not be logged now, else how
   * many occurrences went unlogged since the last line (0 the first time).
   */
  take(kind: string): { readonly unlogged: number } | undefined {
    const now = this.clock();
    const state = this.kinds.get(kind);
    if (state !== undefined && now - state.loggedAtMs < this.intervalMs && now >= state.loggedAtMs) {
      state.since++;
      return undefined;
    }
    // Deleted first, so the map's order is the order of the last line logged.
    this.kinds.delete(kind);
    this.kinds.set(kind, { loggedAtMs: now, since: 0 });
    if (this.kinds.size > this.maxKinds) this.kinds.delete(this.kinds.keys().next().value as string);
    return { unlogged: state?.since ?? 0 };
  }

  /** Forgets `kind`, so that its next occurrence is logged at once (the condition cleared). */
  clear(kind: string): void {
    this.kinds.delete(kind);
  }
}
