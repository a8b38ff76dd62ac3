import { setImmediate as nextTurn } from "node:timers/promises";
import type { ShipperClock } from "../../../../agent/ship/clock.ts";

/**
 * Time that moves only when the shipper sleeps: a sleep advances it at once and yields a turn of
 * the event loop, so rates and backoffs are checked in virtual seconds without waiting for real ones.
 */
export class VirtualClock implements ShipperClock {
  /** Every sleep asked for, in order. */
  readonly sleeps: number[] = [];

  constructor(private nowMs = Date.parse("2025-11-23T12:00:00Z")) {}

  now(): number {
    return this.nowMs;
  }

  async sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    this.sleeps.push(ms);
    this.nowMs += ms;
    await nextTurn();
  }
}
