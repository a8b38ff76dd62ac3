/**
 * A budget of failed lines per source address: more than `maxFailures` inside one `windowMs`
 * blocks the address for `blockMs`. Fixed windows, O(1) per failure, bounded memory, injected clock.
 */
export interface FailureBudgetPolicy {
  /** 0 turns the budget off. */
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly blockMs: number;
}

interface SourceRecord {
  windowStartMs: number;
  failures: number;
  blockedUntilMs: number;
}

export class FailureBudget {
  private readonly sources = new Map<string, SourceRecord>();

  constructor(
    private readonly policy: FailureBudgetPolicy,
    private readonly maxSources = 100_000,
  ) {}

  get enabled(): boolean {
    return this.policy.maxFailures > 0;
  }

  isBlocked(source: string, nowMs: number): boolean {
    const record = this.sources.get(source);
    return record !== undefined && this.blockedUntil(record, nowMs) > nowMs;
  }

  /** Milliseconds left in the source's block (0 if it is not blocked). */
  blockedForMs(source: string, nowMs: number): number {
    const record = this.sources.get(source);
    return record === undefined ? 0 : Math.max(0, this.blockedUntil(record, nowMs) - nowMs);
  }

  /** A clock that stepped back must not stretch a block past the cool-down: it is cut to blockMs from now. */
  private blockedUntil(record: SourceRecord, nowMs: number): number {
    if (record.blockedUntilMs - nowMs > this.policy.blockMs)
      record.blockedUntilMs = nowMs + this.policy.blockMs;
    return record.blockedUntilMs;
  }

  /** Counts one failed line; returns true when this failure uses up the budget and blocks the source. */
  recordFailure(source: string, nowMs: number): boolean {
    if (!this.enabled) return false;
    let record = this.sources.get(source);
    if (record === undefined) {
      if (this.sources.size >= this.maxSources) this.forgetOne(nowMs);
      record = { windowStartMs: nowMs, failures: 0, blockedUntilMs: 0 };
      this.sources.set(source, record);
    }
    if (this.blockedUntil(record, nowMs) > nowMs) return false;
    if (nowMs - record.windowStartMs >= this.policy.windowMs || nowMs < record.windowStartMs) {
      record.windowStartMs = nowMs;
      record.failures = 0;
    }
    record.failures++;
    if (record.failures > this.policy.maxFailures) {
      record.blockedUntilMs = nowMs + this.policy.blockMs;
      record.failures = 0;
      return true;
    }
    return false;
  }

  /** Blocked sources right now, for the metrics. */
  blockedCount(nowMs: number): number {
    let count = 0;
    for (const record of this.sources.values()) if (this.blockedUntil(record, nowMs) > nowMs) count++;
    return count;
  }

  /** Drops the oldest record, preferring one that is not blocked, so a flood of addresses cannot unblock one. */
  private forgetOne(nowMs: number): void {
    let scanned = 0;
    for (const [source, record] of this.sources) {
      if (record.blockedUntilMs <= nowMs || ++scanned > 16) {
        this.sources.delete(source);
        return;
      }
    }
  }
}
