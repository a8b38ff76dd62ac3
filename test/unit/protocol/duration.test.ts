import assert from "node:assert/strict";
import { test } from "node:test";
import { DurationError, formatDuration, parseDuration } from "../../../protocol/duration.ts";

test("Go durations as amproxy's --skew takes them, plus days", () => {
  assert.equal(parseDuration("5m0s"), 300_000);
  assert.equal(parseDuration("300ms"), 300);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("1.5h"), 5_400_000);
  assert.equal(parseDuration("7d"), 604_800_000);
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration("-2s"), -2000);
});

test("bad durations are refused", () => {
  for (const text of ["", "5", "5x", "m", "5m 0s", "1h-"]) {
    assert.throws(() => parseDuration(text), DurationError, text);
  }
});

test("formatting matches Go's", () => {
  assert.equal(formatDuration(300_000), "5m0s");
  assert.equal(formatDuration(5_400_000), "1h30m0s");
  assert.equal(formatDuration(1500), "1.5s");
});
