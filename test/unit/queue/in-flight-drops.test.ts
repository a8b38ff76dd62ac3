import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InFlightDrops } from "../../../queue/in-flight-drops.ts";
import { SeqRanges } from "../../../queue/seq-ranges.ts";

function seqs(first: number, last: number): SeqRanges {
  const ranges = new SeqRanges();
  ranges.addRange(first, last);
  return ranges;
}

describe("InFlightDrops", () => {
  test("records not in flight count at once, for their own reason", () => {
    const drops = new InFlightDrops<"overflow" | "unwritten">();
    assert.equal(drops.pushedOut("unwritten", 1), 1);
    drops.handOut(seqs(10, 19));
    assert.equal(drops.pushedOut("unwritten", 2), 1);
    assert.equal(drops.pushedOut("overflow", 3, 9), 7);
    assert.equal(drops.count("unwritten"), 2);
    assert.equal(drops.count("overflow"), 7);
  });

  test("records pushed out of the batch in flight are not counted if its ack comes: they were delivered", () => {
    const drops = new InFlightDrops<"unwritten">();
    drops.handOut(seqs(1, 10));
    for (let seq = 1; seq <= 15; seq++) drops.pushedOut("unwritten", seq);
    assert.equal(drops.count("unwritten"), 5, "only 11..15, not in flight, count now");
    drops.acked(10);
    drops.handOut(new SeqRanges());
    drops.settle();
    assert.equal(drops.count("unwritten"), 5);
  });

  test("they count when the next peek comes before the ack: the batch was not taken", () => {
    const drops = new InFlightDrops<"unwritten">();
    drops.handOut(seqs(1, 10));
    for (let seq = 1; seq <= 4; seq++) drops.pushedOut("unwritten", seq);
    assert.equal(drops.count("unwritten"), 0, "not yet known to be lost");
    drops.handOut(seqs(5, 14));
    assert.equal(drops.count("unwritten"), 4);
    drops.acked(14);
    assert.equal(drops.count("unwritten"), 4, "an ack of the next batch does not bring them back");
  });

  test("an ack covering part of the batch delivers only that part", () => {
    const drops = new InFlightDrops<"unwritten">();
    drops.handOut(seqs(1, 10));
    for (let seq = 1; seq <= 10; seq++) drops.pushedOut("unwritten", seq);
    drops.acked(6);
    drops.handOut(new SeqRanges());
    assert.equal(drops.count("unwritten"), 4);
  });

  test("settle (close, drain) counts what waits on an ack that will not come, and ends the batch", () => {
    const drops = new InFlightDrops<"overflow" | "unwritten">();
    drops.handOut(seqs(1, 10));
    drops.pushedOut("overflow", 1, 3);
    drops.pushedOut("unwritten", 4);
    drops.settle();
    assert.equal(drops.count("overflow"), 3);
    assert.equal(drops.count("unwritten"), 1);
    assert.equal(drops.pushedOut("unwritten", 5), 1, "nothing is in flight any more");
    drops.acked(10);
    assert.equal(drops.count("unwritten"), 2);
  });

  test("a stretch of seqs with gaps (acked or lost records): only its records count, those in flight later", () => {
    const drops = new InFlightDrops<"overflow">();
    drops.handOut(seqs(5, 8));
    assert.equal(drops.pushedOut("overflow", 1, 10, 6), 2, "6 records left in 1..10, 4 of them in flight");
    drops.handOut(new SeqRanges());
    assert.equal(drops.count("overflow"), 6);
  });
});
