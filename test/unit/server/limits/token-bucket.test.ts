import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  BucketMap,
  msUntilTokens,
  newBucket,
  takeTokens,
} from "../../../../server-stub/limits/token-bucket.ts";

describe("token bucket", () => {
  const policy = { rate: 10, burst: 5 };

  test("starts full, empties, then refills at the rate without any timer", () => {
    const bucket = newBucket(policy, 0);
    for (let index = 0; index < 5; index++) assert.equal(takeTokens(bucket, policy, 0), true);
    assert.equal(takeTokens(bucket, policy, 0), false);
    assert.equal(takeTokens(bucket, policy, 99), false, "0.99 of a token after 99 ms at 10/s");
    assert.equal(takeTokens(bucket, policy, 100), true, "one token after 100 ms");
    assert.equal(takeTokens(bucket, policy, 100), false);
  });

  test("never holds more than the burst, however long it was idle", () => {
    const bucket = newBucket(policy, 0);
    takeTokens(bucket, policy, 0, 5);
    assert.equal(takeTokens(bucket, policy, 3_600_000, 6), false);
    assert.equal(takeTokens(bucket, policy, 3_600_000, 5), true);
  });

  test("a clock stepping back neither refills nor drains it", () => {
    const bucket = newBucket(policy, 10_000);
    takeTokens(bucket, policy, 10_000, 5);
    assert.equal(takeTokens(bucket, policy, 5_000), false);
    assert.equal(takeTokens(bucket, policy, 5_100), true, "refill resumes from the stepped-back time");
  });

  test("says how long until the next token", () => {
    const bucket = newBucket(policy, 0);
    takeTokens(bucket, policy, 0, 5);
    assert.equal(msUntilTokens(bucket, policy, 0), 100);
    assert.equal(msUntilTokens(bucket, policy, 50), 50);
    assert.equal(msUntilTokens(bucket, policy, 100), 0);
  });

  test("over any span, takes at most burst + rate × span tokens", () => {
    fc.assert(
      fc.property(
        fc.record({ rate: fc.integer({ min: 1, max: 1000 }), burst: fc.integer({ min: 1, max: 1000 }) }),
        fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 200 }),
        (bucketPolicy, gaps) => {
          const bucket = newBucket(bucketPolicy, 0);
          let now = 0;
          let taken = 0;
          for (const gap of gaps) {
            now += gap;
            while (takeTokens(bucket, bucketPolicy, now)) taken++;
          }
          return taken <= bucketPolicy.burst + (bucketPolicy.rate * now) / 1000 + 1e-9;
        },
      ),
    );
  });
});

describe("BucketMap", () => {
  const policy = { rate: 1, burst: 1 };

  test("keeps one bucket per name", () => {
    const buckets = new BucketMap(10);
    assert.equal(buckets.take("a", policy, 0), true);
    assert.equal(buckets.take("a", policy, 0), false);
    assert.equal(buckets.take("b", policy, 0), true);
  });

  test("forgets the oldest name past its cap, so memory stays bounded", () => {
    const buckets = new BucketMap(2);
    buckets.take("a", policy, 0);
    buckets.take("b", policy, 0);
    buckets.take("c", policy, 0);
    assert.equal(buckets.size, 2);
    assert.equal(buckets.take("a", policy, 0), true, "a was forgotten: it starts full again");
  });

  test("retain drops names no longer in the auth file", () => {
    const buckets = new BucketMap(10);
    buckets.take("kept", policy, 0);
    buckets.take("removed", policy, 0);
    buckets.retain(new Set(["kept"]));
    assert.equal(buckets.size, 1);
  });
});
