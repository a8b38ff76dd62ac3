/**
 * A token bucket refilled lazily from the time of the last take: no timers, O(1), and pure with
 * respect to the clock, which the caller passes in.
 */
export interface BucketPolicy {
  /** Tokens added per second. */
  readonly rate: number;
  /** The most tokens the bucket holds; also its content when first seen. */
  readonly burst: number;
}

export interface TokenBucket {
  tokens: number;
  updatedMs: number;
}

export function newBucket(policy: BucketPolicy, nowMs: number): TokenBucket {
  return { tokens: policy.burst, updatedMs: nowMs };
}

function refill(bucket: TokenBucket, policy: BucketPolicy, nowMs: number): void {
  const elapsedMs = nowMs - bucket.updatedMs;
  // A clock that steps back must not drain the bucket, nor one that steps forward overfill it.
  if (elapsedMs > 0) {
    bucket.tokens = Math.min(policy.burst, bucket.tokens + (elapsedMs * policy.rate) / 1000);
  }
  bucket.updatedMs = nowMs;
}

/** Takes `count` tokens if they are all there; returns whether it did. */
export function takeTokens(bucket: TokenBucket, policy: BucketPolicy, nowMs: number, count = 1): boolean {
  refill(bucket, policy, nowMs);
  if (bucket.tokens < count) return false;
  bucket.tokens -= count;
  return true;
}

/** Milliseconds until `count` tokens will be there (0 if they are now). */
export function msUntilTokens(bucket: TokenBucket, policy: BucketPolicy, nowMs: number, count = 1): number {
  refill(bucket, policy, nowMs);
  const missing = Math.min(count, policy.burst) - bucket.tokens;
  return missing <= 0 ? 0 : Math.ceil((missing * 1000) / policy.rate);
}

/**
 * Buckets by name (key id or source address), with a cap on how many are kept: past it the
 * least recently created bucket is forgotten, which only ever hands that name a full bucket again.
 */
export class BucketMap {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.buckets.size;
  }

  bucketFor(name: string, policy: BucketPolicy, nowMs: number): TokenBucket {
    let bucket = this.buckets.get(name);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxEntries) {
        const oldest = this.buckets.keys().next();
        if (!oldest.done) this.buckets.delete(oldest.value);
      }
      bucket = newBucket(policy, nowMs);
      this.buckets.set(name, bucket);
    }
    return bucket;
  }

  take(name: string, policy: BucketPolicy, nowMs: number, count = 1): boolean {
    return takeTokens(this.bucketFor(name, policy, nowMs), policy, nowMs, count);
  }

  msUntil(name: string, policy: BucketPolicy, nowMs: number, count = 1): number {
    const bucket = this.buckets.get(name);
    return bucket === undefined ? 0 : msUntilTokens(bucket, policy, nowMs, count);
  }

  /** Forgets the buckets of names no longer in use (keys removed from the auth file). */
  retain(names: ReadonlySet<string>): void {
    for (const name of this.buckets.keys()) if (!names.has(name)) this.buckets.delete(name);
  }
}
