import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LinePacer } from "../../../../agent/ship/line-pacer.ts";

describe("line pacer", () => {
  test("a full bucket lets a batch go at once, then the rate decides", () => {
    const pacer = new LinePacer(50, 100, 0);
    assert.equal(pacer.waitMs(100, 0), 0);
    pacer.take(100, 0);
    assert.equal(pacer.waitMs(100, 0), 2000);
    assert.equal(pacer.waitMs(100, 1000), 1000);
    assert.equal(pacer.waitMs(100, 2000), 0);
  });

  test("a batch larger than the bucket waits for a full bucket and leaves a debt", () => {
    const pacer = new LinePacer(10, 20, 0);
    pacer.take(20, 0);
    assert.equal(pacer.waitMs(50, 0), 2000);
    pacer.take(50, 2000);
    assert.equal(pacer.waitMs(20, 2000), 5000, "30 lines of debt, then 20 more, at 10/s");
  });

  test("a clock stepping back does not drain the bucket; one stepping forward does not overfill it", () => {
    const pacer = new LinePacer(10, 20, 1_000_000);
    pacer.take(10, 1_000_000);
    assert.equal(pacer.waitMs(20, 0), 1000);
    assert.equal(pacer.waitMs(20, 9_000_000_000), 0);
    pacer.take(20, 9_000_000_000);
    assert.equal(pacer.waitMs(1, 9_000_000_000), 100);
  });

  test("over any stretch of time, no more than burst + rate × time lines go", () => {
    const rate = 7;
    const burst = 30;
    const pacer = new LinePacer(rate, burst, 0);
    const sends: { at: number; lines: number }[] = [];
    let now = 0;
    let seed = 42;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let i = 0; i < 300; i++) {
      const lines = 1 + Math.floor(random() * burst);
      now += pacer.waitMs(lines, now) + Math.floor(random() * 500);
      pacer.take(lines, now);
      sends.push({ at: now, lines });
    }
    for (let from = 0; from < sends.length; from++) {
      let total = 0;
      for (let to = from; to < sends.length; to++) {
        total += sends[to]?.lines ?? 0;
        const spanMs = (sends[to]?.at ?? 0) - (sends[from]?.at ?? 0);
        assert.ok(total <= burst + (rate * spanMs) / 1000 + 1e-9, `${total} lines in ${spanMs} ms`);
      }
    }
  });
});
