/**
 * Remembers accepted lines for at least `windowMs` (and at most about twice that), in at most
 * `maxEntries` entries: two generations of sets, the older dropped whole when the newer is full
 * or old enough. O(1) per line, no timers, injected clock.
 */
export interface DedupePolicy {
  readonly windowMs: number;
  readonly maxEntries: number;
}

export class Dedupe {
  private current = new Set<string>();
  private previous = new Set<string>();
  private currentStartMs: number | undefined;

  constructor(private readonly policy: DedupePolicy) {}

  get size(): number {
    return this.current.size + this.previous.size;
  }

  /** Returns true when `id` was seen inside the window (a duplicate); otherwise remembers it. */
  seen(id: string, nowMs: number): boolean {
    if (this.policy.maxEntries <= 0) return false;
    this.rotateIfDue(nowMs);
    if (this.current.has(id) || this.previous.has(id)) return true;
    this.current.add(id);
    return false;
  }

  /** Forgets `id`, so a line that could not be forwarded can be sent again. */
  forget(id: string): void {
    this.current.delete(id);
    this.previous.delete(id);
  }

  private rotateIfDue(nowMs: number): void {
    if (this.currentStartMs === undefined) this.currentStartMs = nowMs;
    const age = nowMs - this.currentStartMs;
    if (age >= this.policy.windowMs || age < 0 || this.current.size >= this.policy.maxEntries / 2) {
      if (age >= 2 * this.policy.windowMs) this.current.clear();
      this.previous = this.current;
      this.current = new Set();
      this.currentStartMs = nowMs;
    }
  }
}
