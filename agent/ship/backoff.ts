/**
 * How long the shipper waits before sending a batch again. Pure: attempt, the server's Retry-After
 * and the random source in, milliseconds out.
 */
export interface BackoffPolicy {
  /** The ceiling for the first retry; it doubles per attempt. */
  readonly initialMs: number;
  /** The ceiling never grows past this. */
  readonly maxMs: number;
  /** A Retry-After longer than this is cut to it: a bogus date must not park a device for a year. */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 1_000,
  maxMs: 120_000,
  maxRetryAfterMs: 3_600_000,
};

/**
 * "Full jitter": uniform in [0, min(maxMs, initialMs · 2^(attempt-1))). After an outage every device
 * in the family retries at a different moment instead of all at once.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(0, attempt - 1), 52);
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** exponent);
  return Math.floor(random() * ceiling);
}

/**
 * The wait after failed attempt number `attempt` (1 = the first failure). When the server said
 * when to come back, never sooner than that, plus a little spread (up to a tenth of the wait, at
 * least `initialMs`) so devices told the same Retry-After do not all return in the same second.
 */
export function retryDelay(
  attempt: number,
  retryAfterMs: number | undefined,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  if (retryAfterMs === undefined) return backoffDelay(attempt, policy, random);
  const floor = Math.min(Math.max(0, retryAfterMs), policy.maxRetryAfterMs);
  return floor + Math.floor(random() * Math.max(policy.initialMs, floor / 10));
}
