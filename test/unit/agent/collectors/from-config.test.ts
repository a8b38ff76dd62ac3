import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClockGuard } from "../../../../agent/clock/clock-guard.ts";
import { scheduledCollectors } from "../../../../agent/collectors/from-config.ts";
import { toCarbonPoints } from "../../../../agent/collectors/points.ts";
import { resolveAgentConfig } from "../../../../agent/config/resolve.ts";
import { CollectorScheduler } from "../../../../agent/schedule/scheduler.ts";
import { formatCarbonLine } from "../../../../protocol/line.ts";
import { FakeClock, RecordingLogger } from "../collect-fakes.ts";

const base = {
  device: "grandma-pi",
  key_file: "/etc/homeward/device.key",
  server: { url: "https://m.example.org" },
};

describe("scheduledCollectors", () => {
  it("makes one scheduled collector per enabled section and per exec entry", () => {
    const config = resolveAgentConfig({
      ...base,
      collect: {
        pi: { enabled: false },
        exec: [
          { name: "boiler", command: ["/bin/true"], schedule: "0 */5 * * * *", timeout: "20s" },
          { name: "solar", command: ["/bin/true"] },
        ],
      },
    });
    const entries = scheduledCollectors(config, { stats: () => ({}) });
    assert.deepEqual(
      entries.map((entry) => [entry.collector.name, entry.schedule, entry.timeoutMs]),
      [
        ["system", "*/10 * * * * *", 5_000],
        ["net", "0 * * * * *", 30_000],
        ["exec.boiler", "0 */5 * * * *", 25_000],
        ["exec.solar", "0 * * * * *", 15_000],
        ["self", "0 * * * * *", 5_000],
      ],
    );
    for (const entry of entries) entry.collector.close?.();
  });
});

describe("collect → hold → stamp → lines", () => {
  it("readings taken before the clock syncs reach Carbon with their true times", async () => {
    const trueNow = Date.UTC(2026, 10, 23, 12, 0, 0);
    const savedClock = Date.UTC(2026, 10, 5, 8, 30, 0);
    const clock = new FakeClock(savedClock);
    let synced = false;
    const lines: string[] = [];
    const config = resolveAgentConfig({
      ...base,
      collect: {
        system: { enabled: false },
        pi: { enabled: false },
        net: { enabled: false },
        self: { enabled: false },
        exec: [
          {
            name: "boiler",
            command: [
              process.execPath,
              "-e",
              'console.log("temp 61.5"); console.log(`burner 1 ${process.env.TS}`)',
            ],
            schedule: "*/10 * * * * *",
            // The script states its own timestamp 5 s before the run, by the same (wrong) clock.
            env: { TS: String(Math.floor(savedClock / 1000) + 10 - 5) },
          },
        ],
      },
    });
    const guard = new ClockGuard({
      isSynchronized: async () => synced,
      onStamped: (batch) => {
        for (const point of toCarbonPoints(config.prefix, batch).points) lines.push(formatCarbonLine(point));
      },
      maxHoldMs: config.clock.maxHoldMs,
      maxHeldReadings: config.clock.maxHeldReadings,
      pollIntervalMs: config.clock.pollMs,
      clock,
      buildTimeSeconds: Date.UTC(2026, 10, 1) / 1000,
    });
    let delivered: () => void = () => {};
    const batchArrived = new Promise<void>((resolve) => {
      delivered = resolve;
    });
    const scheduler = new CollectorScheduler({
      clock,
      log: new RecordingLogger(),
      onBatch: (batch) => {
        guard.accept(batch);
        delivered();
      },
    });
    scheduler.replace(scheduledCollectors(config, { stats: () => ({}) }));

    await clock.advance(10_000);
    await batchArrived;
    await scheduler.stop();
    assert.deepEqual(lines, [], "held while the clock is unsynchronized");

    // 20 s after the run, NTP sets the true time.
    await clock.advance(20_000);
    clock.stepWall(trueNow + 30_000 - clock.wallNow());
    synced = true;
    await guard.check();
    const runSeconds = (trueNow + 10_000) / 1000;
    assert.deepEqual(lines, [
      `homeward.grandma-pi.exec.boiler.temp 61.5 ${runSeconds}\n`,
      `homeward.grandma-pi.exec.boiler.burner 1 ${runSeconds - 5}\n`,
    ]);
  });
});
