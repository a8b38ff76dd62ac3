import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FailureBudget } from "../../../../server-stub/limits/failure-budget.ts";

describe("failure budget", () => {
  const policy = { maxFailures: 3, windowMs: 1000, blockMs: 5000 };

  test("blocks a source on the failure past the budget, for the cool-down only", () => {
    const budget = new FailureBudget(policy);
    assert.equal(budget.recordFailure("10.0.0.1", 0), false);
    assert.equal(budget.recordFailure("10.0.0.1", 10), false);
    assert.equal(budget.recordFailure("10.0.0.1", 20), false);
    assert.equal(budget.isBlocked("10.0.0.1", 20), false);
    assert.equal(budget.recordFailure("10.0.0.1", 30), true);
    assert.equal(budget.isBlocked("10.0.0.1", 31), true);
    assert.equal(budget.blockedForMs("10.0.0.1", 1030), 4000);
    assert.equal(budget.isBlocked("10.0.0.1", 5030), false);
  });

  test("other sources are not affected", () => {
    const budget = new FailureBudget(policy);
    for (let index = 0; index < 4; index++) budget.recordFailure("10.0.0.1", 0);
    assert.equal(budget.isBlocked("10.0.0.2", 0), false);
    assert.equal(budget.blockedCount(0), 1);
  });

  test("failures in an earlier window do not add up", () => {
    const budget = new FailureBudget(policy);
    for (let index = 0; index < 3; index++) budget.recordFailure("10.0.0.1", 0);
    for (let index = 0; index < 3; index++) assert.equal(budget.recordFailure("10.0.0.1", 1000), false);
    assert.equal(budget.isBlocked("10.0.0.1", 1000), false);
  });

  test("0 turns it off", () => {
    const budget = new FailureBudget({ ...policy, maxFailures: 0 });
    for (let index = 0; index < 100; index++) assert.equal(budget.recordFailure("10.0.0.1", 0), false);
  });

  test("memory is bounded, and a flood of new addresses does not evict a blocked one", () => {
    const budget = new FailureBudget(policy, 100);
    for (let index = 0; index < 4; index++) budget.recordFailure("attacker", 0);
    for (let index = 0; index < 10_000; index++) budget.recordFailure(`10.1.${index >> 8}.${index & 255}`, 1);
    assert.equal(budget.isBlocked("attacker", 2), true);
  });
});
