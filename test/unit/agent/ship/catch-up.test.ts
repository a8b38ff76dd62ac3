import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CatchUpTracker } from "../../../../agent/ship/catch-up.ts";

describe("catch-up progress", () => {
  test("starts at the first delivery after an outage with more than a batch waiting, ends when a batch is left", () => {
    const tracker = new CatchUpTracker(100);
    tracker.delivered(50, 0, 1000);
    assert.equal(tracker.progress(50), null, "a small buffer after start is no catch-up");
    tracker.failed();
    tracker.delivered(1000, 900, 2000);
    assert.deepEqual(tracker.progress(50), {
      startedAt: 2000,
      backlogAtStart: 1000,
      remaining: 900,
      fractionDone: 0.1,
      etaMs: 18_000,
    });
    tracker.delivered(900, 400, 3000);
    assert.equal(tracker.progress(50)?.fractionDone, 0.6);
    tracker.delivered(400, 100, 4000);
    assert.equal(tracker.progress(50), null);
  });

  test("a buffer that was full at start counts as an outage; a new outage midway keeps the same catch-up", () => {
    const tracker = new CatchUpTracker(10);
    tracker.delivered(200, 190, 0);
    tracker.failed();
    tracker.delivered(250, 240, 5000);
    const progress = tracker.progress(10);
    assert.equal(progress?.startedAt, 0);
    assert.equal(progress?.backlogAtStart, 200);
    assert.equal(progress?.fractionDone, 0, "more waiting than at the start: 0%, never negative");
  });

  test("no catch-up without an outage, however deep the buffer", () => {
    const tracker = new CatchUpTracker(10);
    tracker.delivered(5, 0, 0);
    tracker.delivered(500, 490, 1000);
    assert.equal(tracker.progress(10), null);
  });
});
