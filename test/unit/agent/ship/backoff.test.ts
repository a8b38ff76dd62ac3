import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { backoffDelay, DEFAULT_BACKOFF, retryDelay } from "../../../../agent/ship/backoff.ts";
import type { BackoffPolicy } from "../../../../agent/ship/backoff.ts";

const policy: BackoffPolicy = { initialMs: 1000, maxMs: 60_000, maxRetryAfterMs: 600_000 };
const almostOne = () => 0.999999;

describe("backoff", () => {
  test("the ceiling doubles per attempt up to the cap", () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 20, 1000].map(
      (attempt) => backoffDelay(attempt, policy, almostOne) + 1,
    );
    assert.deepEqual(ceilings, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000]);
  });

  test("full jitter: anywhere from 0 to the ceiling, as the random source says", () => {
    assert.equal(
      backoffDelay(3, policy, () => 0),
      0,
    );
    assert.equal(
      backoffDelay(3, policy, () => 0.5),
      2000,
    );
    for (let draw = 0; draw < 1; draw += 0.01) {
      const delay = backoffDelay(4, policy, () => draw);
      assert.ok(delay >= 0 && delay < 8000);
    }
  });

  test("Retry-After is honoured: never sooner, a little spread, and capped", () => {
    assert.equal(
      retryDelay(1, 30_000, policy, () => 0),
      30_000,
    );
    assert.equal(
      retryDelay(9, 30_000, policy, () => 0.5),
      31_500,
    );
    assert.equal(
      retryDelay(1, 2_000, policy, () => 0.5),
      2_500,
      "at least initialMs of spread",
    );
    assert.equal(
      retryDelay(1, 10 * 365 * 86_400_000, policy, () => 0),
      600_000,
    );
    assert.equal(
      retryDelay(1, -5, policy, () => 0),
      0,
    );
    assert.equal(
      retryDelay(3, undefined, policy, () => 0.5),
      2000,
      "no Retry-After: the usual backoff",
    );
  });

  test("the default policy starts at a second and caps at two minutes", () => {
    assert.equal(backoffDelay(1, DEFAULT_BACKOFF, almostOne) + 1, 1000);
    assert.equal(backoffDelay(50, DEFAULT_BACKOFF, almostOne) + 1, 120_000);
  });
});
