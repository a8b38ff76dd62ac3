import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { PiCollector } from "../../../../agent/collectors/pi.ts";
import { cannedRunner, FIXTURES, RecordingLogger } from "../collect-fakes.ts";

function context(log = new RecordingLogger()) {
  return { now: Date.UTC(2026, 10, 23, 12), signal: new AbortController().signal, log };
}

describe("PiCollector", () => {
  it("reports SoC temperature, CPU frequency, each throttling flag and the good 1-Wire sensors", async () => {
    const log = new RecordingLogger();
    const collector = new PiCollector({
      root: join(FIXTURES, "pi4-bookworm"),
      throttled: "auto",
      w1: true,
      w1Names: { "28-0316a2795aff": "greenhouse" },
      run: cannedRunner({}),
    });
    const readings = await collector.collect(context(log));
    const values = Object.fromEntries(readings.map((reading) => [reading.name, reading.value]));
    assert.deepEqual(values, {
      soc_temp_c: 48.312,
      "cpufreq.cpu0.mhz": 1500,
      "cpufreq.cpu1.mhz": 1500,
      "cpufreq.cpu2.mhz": 600,
      "cpufreq.cpu3.mhz": 600,
      "throttled.under_voltage_now": 1,
      "throttled.freq_capped_now": 0,
      "throttled.throttled_now": 1,
      "throttled.soft_temp_limit_now": 0,
      "throttled.under_voltage_occurred": 1,
      "throttled.freq_capped_occurred": 0,
      "throttled.throttled_occurred": 1,
      "throttled.soft_temp_limit_occurred": 0,
      "throttled.word": 0x50005,
      "w1.greenhouse.temp_c": 23.125,
      "w1.greenhouse.read_errors": 0,
      "w1.3b-3c01d607e3aa.temp_c": 19.5,
      "w1.3b-3c01d607e3aa.read_errors": 0,
      "w1.28-000000000000.read_errors": 1,
      "w1.28-01193a4b5c6d.read_errors": 1,
      "w1.28-0416b1c3d4ff.read_errors": 1,
      "w1.28-0517c1d2e3ff.read_errors": 1,
    });
    const skipped = log
      .at("warn")
      .map((entry) => `${String(entry.fields.sensor)} ${String(entry.fields.reason)}`);
    assert.ok(skipped.includes("28-0416b1c3d4ff crc_mismatch"));

    // A sensor that stays bad is counted up, and logged quietly after the first time.
    const again = await collector.collect(context(log));
    assert.ok(
      again.some((reading) => reading.name === "w1.28-0416b1c3d4ff.read_errors" && reading.value === 2),
    );
    assert.equal(log.at("warn").length, 4, "no new warnings for the same failures");
  });

  it("tolerates a board with nothing to read", async () => {
    const collector = new PiCollector({
      root: join(FIXTURES, "bare"),
      throttled: "auto",
      w1: true,
      run: cannedRunner({}),
    });
    assert.deepEqual(await collector.collect(context()), []);
  });

  it("reports an older board's names and its soft temperature limit", async () => {
    const collector = new PiCollector({
      root: join(FIXTURES, "pi3-legacy"),
      throttled: "auto",
      w1: false,
      run: cannedRunner({}),
    });
    const values = Object.fromEntries(
      (await collector.collect(context())).map((reading) => [reading.name, reading.value]),
    );
    assert.equal(values.soc_temp_c, 61.224);
    assert.equal(values["throttled.soft_temp_limit_now"], 1);
    assert.equal(values["throttled.under_voltage_now"], 0);
  });
});
