import { setTimeout as delay } from "node:timers/promises";

export interface PollOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between attempts (default 50 ms). */
  intervalMs?: number;
  /** What is being waited for, for the timeout message. */
  what: string;
  /** Extra detail for the timeout message, computed only on failure (e.g. what was found). */
  describe?: () => string | Promise<string>;
}

/**
 * Calls `probe` until it returns something other than `undefined`, and returns that. A probe that
 * throws fails the wait at once (so a dead process can end it early); on timeout the error names
 * `what` and includes `describe()`.
 */
export async function pollUntil<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  options: PollOptions,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await probe();
    if (result !== undefined) return result;
    if (Date.now() >= deadline) {
      const detail = options.describe ? await options.describe() : "";
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${options.what}${detail ? `\n${detail}` : ""}`,
      );
    }
    await delay(Math.min(intervalMs, Math.max(1, deadline - Date.now())));
  }
}
