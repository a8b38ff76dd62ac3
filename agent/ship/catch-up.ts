/** Progress through the backlog that built up while the server could not be reached. */
export interface CatchUpProgress {
  readonly startedAt: number;
  /** Lines waiting when sending resumed. */
  readonly backlogAtStart: number;
  /** Lines waiting now (new readings included). */
  readonly remaining: number;
  /** 0..1. */
  readonly fractionDone: number;
  /** At the capped rate, ignoring new readings; null when the rate is unknown. */
  readonly etaMs: number | null;
}

/**
 * Catching up starts at the first delivery after a failure (or after start: the agent may have
 * been off with a full buffer) when more than one batch is waiting, and ends once no more than a
 * batch is. A new outage in the middle keeps the same catch-up: the family member sees one
 * percentage go up, not a series of restarts.
 */
export class CatchUpTracker {
  private afterOutage = true;
  private current: { startedAt: number; backlogAtStart: number; remaining: number } | undefined;

  constructor(private readonly thresholdLines: number) {}

  failed(): void {
    this.afterOutage = true;
  }

  delivered(depthBefore: number, depthAfter: number, nowMs: number): void {
    if (this.current === undefined && this.afterOutage && depthBefore > this.thresholdLines) {
      this.current = { startedAt: nowMs, backlogAtStart: depthBefore, remaining: depthAfter };
    }
    this.afterOutage = false;
    if (this.current === undefined) return;
    this.current.remaining = depthAfter;
    if (depthAfter <= this.thresholdLines) this.current = undefined;
  }

  progress(linesPerSecond: number): CatchUpProgress | null {
    if (this.current === undefined) return null;
    const { startedAt, backlogAtStart, remaining } = this.current;
    const fractionDone = Math.min(1, Math.max(0, (backlogAtStart - remaining) / backlogAtStart));
    const etaMs = linesPerSecond > 0 ? Math.ceil((remaining / linesPerSecond) * 1000) : null;
    return { startedAt, backlogAtStart, remaining, fractionDone, etaMs };
  }
}
