import { monotonicMs } from "../../runtime/clock/monotonic.ts";

/**
 * Time, injected. Wall time can be wrong (a Pi has no RTC) and can jump when NTP steps it;
 * monotonic time never jumps but means nothing across processes. Timers follow monotonic time.
 */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the Unix epoch, as the system clock says (possibly unsynchronized). */
  wallNow(): number;
  /** Monotonic milliseconds from an arbitrary origin. */
  monoNow(): number;
  /** Calls back after `ms` of monotonic time. An unref'd timer does not keep the process alive. */
  setTimer(callback: () => void, ms: number, options?: { unref?: boolean }): Timer;
}

/** setTimeout's limit; longer delays fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  wallNow: () => Date.now(),
  monoNow: monotonicMs,
  setTimer(callback, ms, options) {
    const handle = setTimeout(callback, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    if (options?.unref) handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};
