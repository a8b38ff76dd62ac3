import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Dedupe } from "../../../../server-stub/limits/dedupe.ts";

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
});
