import { setTimeout as sleepFor } from "node:timers/promises";

/** Time as the shipper sees it; tests pass a virtual clock whose sleep moves time forward. */
export interface ShipperClock {
  /** Wall-clock milliseconds (status times are shown to people and compared across processes). */
  now(): number;
  /** Resolves after `ms`, or early, without throwing, once `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const systemClock: ShipperClock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    try {
      await sleepFor(ms, undefined, { signal });
    } catch (error) {
      if ((error as Error).name !== "AbortError") throw error;
    }
  },
};
