import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { Dedupe } from "../../../../server-stub/limits/dedupe.ts";
import type { DedupePolicy } from "../../../../server-stub/limits/dedupe.ts";

/** The rule as the table must implement it: two generations of Sets. */
class ModelDedupe {
  private current = new Set<string>();
  private previous = new Set<string>();
  private currentStartMs: number | undefined;
  constructor(private readonly policy: DedupePolicy) {}
  get size(): number {
    return this.current.size + this.previous.size;
  }
  seen(id: string, nowMs: number): boolean {
    if (this.policy.maxEntries <= 0) return false;
    this.currentStartMs ??= nowMs;
    const age = nowMs - this.currentStartMs;
    if (age >= this.policy.windowMs || age < 0 || this.current.size >= this.policy.maxEntries / 2) {
      if (age >= 2 * this.policy.windowMs) this.current.clear();
      this.previous = this.current;
      this.current = new Set();
      this.currentStartMs = nowMs;
    }
    if (this.current.has(id) || this.previous.has(id)) return true;
    this.current.add(id);
    return false;
  }
  forget(id: string): void {
    this.current.delete(id);
    this.previous.delete(id);
  }
}

describe("dedupe", () => {
  test("an identical line inside the window is a duplicate", () => {
    const dedupe = new Dedupe({ windowMs: 1000, maxEntries: 100 });
    assert.equal(dedupe.seen("sig-a", 0), false);
    assert.equal(dedupe.seen("sig-a", 500), true);
    assert.equal(dedupe.seen("sig-b", 500), false);
  });

  test("remembers a line for at least the window", () => {
    const dedupe = new Dedupe({ windowMs: 1000, maxEntries: 100 });
    dedupe.seen("first", 0);
    dedupe.seen("late", 999);
    assert.equal(dedupe.seen("first", 1000), true, "1000 ms later, across a rotation");
    assert.equal(dedupe.seen("late", 1998), true, "999 ms later");
  });

  test("forgets lines older than twice the window", () => {
    const dedupe = new Dedupe({ windowMs: 1000, maxEntries: 100 });
    dedupe.seen("old", 0);
    assert.equal(dedupe.seen("old", 5000), false);
  });

  test("never holds more than maxEntries", () => {
    const dedupe = new Dedupe({ windowMs: 60_000, maxEntries: 1000 });
    for (let index = 0; index < 100_000; index++) dedupe.seen(`line-${index}`, 0);
    assert.ok(dedupe.size <= 1000, `size ${dedupe.size}`);
    assert.equal(dedupe.seen("line-99999", 0), true, "the most recent lines are still remembered");
  });

  test("forget lets a line that was not forwarded be sent again", () => {
    const dedupe = new Dedupe({ windowMs: 1000, maxEntries: 100 });
    dedupe.seen("x", 0);
    dedupe.forget("x");
    assert.equal(dedupe.seen("x", 1), false);
  });

  test("0 entries turns it off", () => {
    const dedupe = new Dedupe({ windowMs: 1000, maxEntries: 0 });
    dedupe.seen("x", 0);
    assert.equal(dedupe.seen("x", 0), false);
  });

  test("answers as two generations of Sets would, for any mix of lines, repeats, forgets and clock steps", () => {
    const operation = fc.oneof(
      {
        arbitrary: fc.record({
          kind: fc.constant("seen" as const),
          id: fc.nat(300),
          stepMs: fc.integer({ min: -50, max: 400 }),
        }),
        weight: 8,
      },
      {
        arbitrary: fc.record({
          kind: fc.constant("forget" as const),
          id: fc.nat(300),
          stepMs: fc.constant(0),
        }),
        weight: 1,
      },
    );
    fc.assert(
      fc.property(
        fc.record({
          windowMs: fc.integer({ min: 1, max: 2000 }),
          maxEntries: fc.integer({ min: 0, max: 3000 }),
        }),
        fc.array(operation, { maxLength: 3000 }),
        (policy, operations) => {
          const dedupe = new Dedupe(policy);
          const model = new ModelDedupe(policy);
          let nowMs = 1_764_000_000_000;
          for (const { kind, id, stepMs } of operations) {
            nowMs += stepMs;
            // Signature-like ids, plus short ones that share prefixes.
            const text = id % 3 === 0 ? `k${id}` : `${"Q".repeat(40)}${id}==`;
            if (kind === "forget") {
              dedupe.forget(text);
              model.forget(text);
            } else assert.equal(dedupe.seen(text, nowMs), model.seen(text, nowMs));
            assert.equal(dedupe.size, model.size);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
