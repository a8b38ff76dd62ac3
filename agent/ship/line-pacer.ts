/**
 * Caps the lines per second the shipper sends, so a backlog after an outage goes out at the rate
 * the server allows the device's key (a token bucket: `burstLines` may go at once, then
 * `linesPerSecond`). Pure with respect to time: the caller passes the clock in.
 *
 * A batch larger than what the bucket holds still goes once the bucket is full, and leaves it in
 * debt, so the long-run rate stays at `linesPerSecond` whatever the batch size.
 */
export class LinePacer {
  private tokens: number;
  private updatedMs: number;

  constructor(
    readonly linesPerSecond: number,
    readonly burstLines: number,
    nowMs: number,
  ) {
    if (!(linesPerSecond > 0))
      throw new RangeError(`lines per second must be above 0, got ${linesPerSecond}`);
    if (!(burstLines >= 1)) throw new RangeError(`burst must be at least 1 line, got ${burstLines}`);
    this.tokens = burstLines;
    this.updatedMs = nowMs;
  }

  /** Milliseconds until `count` lines may go (0: now). */
  waitMs(count: number, nowMs: number): number {
    this.refill(nowMs);
    const missing = Math.min(count, this.burstLines) - this.tokens;
    return missing <= 0 ? 0 : Math.ceil((missing * 1000) / this.linesPerSecond);
  }

  /** Records that `count` lines went. */
  take(count: number, nowMs: number): void {
    this.refill(nowMs);
    this.tokens -= count;
  }

  private refill(nowMs: number): void {
    const elapsedMs = nowMs - this.updatedMs;
    // A clock stepped back must not drain the bucket (the Pi's clock jumps when NTP syncs).
    if (elapsedMs > 0)
      this.tokens = Math.min(this.burstLines, this.tokens + (elapsedMs * this.linesPerSecond) / 1000);
    this.updatedMs = nowMs;
  }
}
