import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay } from "../../../../server-stub/forward/backoff.ts";

const policy = { initialMs: 100, maxMs: 5000, factor: 2, jitter: 0 };

test("backoff doubles from the initial delay up to the cap", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 100].map((attempt) => backoffDelay(attempt, policy)),
    [100, 200, 400, 800, 1600, 3200, 5000, 5000],
  );
});

test("jitter spreads the delay within ±jitter of it", () => {
  const jittered = { ...policy, jitter: 0.2 };
  assert.equal(
    backoffDelay(3, jittered, () => 0),
    320,
  );
  assert.equal(
    backoffDelay(3, jittered, () => 1),
    480,
  );
  assert.equal(
    backoffDelay(3, jittered, () => 0.5),
    400,
  );
});

test("a huge attempt number neither overflows nor exceeds the cap", () => {
  assert.equal(backoffDelay(1e9, policy), 5000);
  assert.equal(backoffDelay(0, policy), 100);
});
