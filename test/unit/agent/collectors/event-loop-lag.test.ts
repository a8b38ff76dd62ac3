import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EventLoopLagSampler } from "../../../../agent/collectors/event-loop-lag.ts";
import type { EventLoopLagSamplerOptions } from "../../../../agent/collectors/event-loop-lag.ts";

const PERIOD_MS = 100;

/** A sampler on a fake clock whose ticks the test fires, each `lagMs` late. */
function fakeSampler(options: Partial<EventLoopLagSamplerOptions> = {}) {
  let nowMs = 5_000;
  let tick: (() => void) | undefined;
  const sampler = new EventLoopLagSampler({
    periodMs: PERIOD_MS,
    monoNow: () => nowMs,
    repeat: (callback) => {
      tick = callback;
      return () => (tick = undefined);
    },
    ...options,
  });
  sampler.start();
  const ticksLate = (...lagsMs: number[]): void => {
    for (const lagMs of lagsMs) {
      nowMs += PERIOD_MS + lagMs;
      assert.ok(tick, "the sampler is running");
      tick();
    }
  };
  return { sampler, ticksLate, running: () => tick !== undefined };
}

describe("EventLoopLagSampler", () => {
  it("reports p50, p99 and max of how late each tick came, then starts over", () => {
    const { sampler, ticksLate } = fakeSampler();
    assert.equal(sampler.take(), undefined, "no tick yet: nothing to say");

    // 100 ticks: 97 on time or nearly, two a little late, one blocked for 250 ms.
    ticksLate(...Array.from({ length: 97 }, (_, index) => (index % 2) * 0.5), 20, 30, 250);
    assert.deepEqual(sampler.take(), { p50Ms: 0.5, p99Ms: 30, maxMs: 250 });

    ticksLate(3);
    assert.deepEqual(sampler.take(), { p50Ms: 3, p99Ms: 3, maxMs: 3 }, "only the ticks since the last take");
    assert.equal(sampler.take(), undefined);
  });

  it("counts an early tick as no lag", () => {
    const { sampler, ticksLate } = fakeSampler();
    ticksLate(-2, 1);
    assert.deepEqual(sampler.take(), { p50Ms: 0, p99Ms: 1, maxMs: 1 });
  });

  it("past its capacity keeps the latest ticks for the percentiles and the max of all", () => {
    const { sampler, ticksLate } = fakeSampler({ capacity: 4 });
    ticksLate(400, 1, 1, 1, 2, 2, 2, 2);
    assert.deepEqual(sampler.take(), { p50Ms: 2, p99Ms: 2, maxMs: 400 });
  });

  it("stops its timer", () => {
    const { sampler, running } = fakeSampler();
    sampler.stop();
    assert.equal(running(), false);
  });
});
