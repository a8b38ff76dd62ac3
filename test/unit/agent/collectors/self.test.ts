import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SelfCollector } from "../../../../agent/collectors/self.ts";
import { RecordingLogger } from "../collect-fakes.ts";

const NOW = Date.UTC(2026, 10, 23, 12);

function context() {
  return { now: NOW, signal: new AbortController().signal, log: new RecordingLogger() };
}

describe("SelfCollector", () => {
  it("reports its own process, the event loop, and whatever the stats provider knows", async () => {
    const collector = new SelfCollector({
      lagResolutionMs: 10,
      stats: () => ({
        buffer: { depth: 1200, bytes: 98_304, oldestAgeSeconds: 3600 },
        dropped: { buffer_overflow: 7, acl_denied: 2, clock_unsynced_timeout: 30 },
        lastShipWallMs: NOW - 42_000,
        shipErrors: 3,
        clock: {
          trusted: false,
          heldBatches: 2,
          heldReadings: 40,
          dropped: { clock_unsynced_timeout: 30, clock_hold_overflow: 0 },
          trustedSinceMono: undefined,
        },
        scheduler: {
          "exec.sensors": {
            runs: 10,
            errors: 1,
            overlapsSkipped: 2,
            timeouts: 1,
            running: false,
            lastDurationMs: 12.3456,
            lastError: "boom",
            lastRunWallMs: NOW,
          },
        },
      }),
    });
    // Block the event loop for a moment so there is lag to see.
    await new Promise((resolve) => setTimeout(resolve, 30));
    const busyUntil = Date.now() + 50;
    while (Date.now() < busyUntil);
    await new Promise((resolve) => setTimeout(resolve, 30));

    const values = Object.fromEntries(
      (await collector.collect(context())).map((reading) => [reading.name, reading.value]),
    );
    collector.close();
    assert.ok((values["process.rss_bytes"] ?? 0) > 10_000_000);
    assert.ok((values["process.heap_used_bytes"] ?? 0) > 0);
    assert.ok((values["process.cpu_pct"] ?? -1) >= 0);
    assert.ok((values["event_loop.lag_max_ms"] ?? 0) >= 20, `lag max ${values["event_loop.lag_max_ms"]}`);
    assert.ok("event_loop.lag_p50_ms" in values && "event_loop.lag_p99_ms" in values);
    assert.equal(values["buffer.depth"], 1200);
    assert.equal(values["buffer.bytes"], 98_304);
    assert.equal(values["buffer.oldest_age_s"], 3600);
    assert.equal(values["dropped.buffer_overflow"], 7);
    assert.equal(values["dropped.acl_denied"], 2);
    assert.equal(values["dropped.clock_unsynced_timeout"], 30);
    assert.equal(values["ship.last_success_age_s"], 42);
    assert.equal(values["ship.errors"], 3);
    assert.equal(values["clock.trusted"], 0);
    assert.equal(values["clock.held_readings"], 40);
    assert.equal(values["collector.exec_sensors.runs"], 10);
    assert.equal(values["collector.exec_sensors.errors"], 1);
    assert.equal(values["collector.exec_sensors.overlaps_skipped"], 2);
    assert.equal(values["collector.exec_sensors.timeouts"], 1);
    assert.equal(values["collector.exec_sensors.duration_ms"], 12.346);
  });

  it("works before the buffer and transports exist", async () => {
    const collector = new SelfCollector({ stats: () => ({}) });
    const names = (await collector.collect(context())).map((reading) => reading.name);
    collector.close();
    assert.ok(names.includes("process.rss_bytes"));
    assert.ok(names.every((name) => name.startsWith("process.") || name.startsWith("event_loop.")));
  });
});
