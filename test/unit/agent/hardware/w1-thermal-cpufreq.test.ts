import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readCpuFrequencies } from "../../../../hardware/cpufreq.ts";
import { naturalCompare } from "../../../../hardware/sysfs.ts";
import { readThermalZones, socZone } from "../../../../hardware/thermal.ts";
import { parseW1Slave, readW1Temperatures } from "../../../../hardware/w1.ts";
import { FIXTURES } from "../collect-fakes.ts";

describe("1-Wire DS18B20", () => {
  it("parses a good reading, and refuses a bad CRC, a power-on reset and an empty scratchpad", () => {
    assert.deepEqual(
      parseW1Slave("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"),
      {
        ok: true,
        celsius: 23.125,
      },
    );
    assert.deepEqual(
      parseW1Slave("e8 ff 4b 46 7f ff 0c 10 f3 : crc=f3 YES\ne8 ff 4b 46 7f ff 0c 10 f3 t=-1500\n"),
      {
        ok: true,
        celsius: -1.5,
      },
    );
    assert.deepEqual(
      parseW1Slave("72 01 4b 46 7f ff 0e 10 57 : crc=4d NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"),
      {
        ok: false,
        reason: "crc_mismatch",
      },
    );
    assert.deepEqual(
      parseW1Slave("50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n"),
      {
        ok: false,
        reason: "power_on_reset",
      },
    );
    assert.deepEqual(
      parseW1Slave("00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n"),
      {
        ok: false,
        reason: "no_data",
      },
    );
    assert.deepEqual(parseW1Slave(""), { ok: false, reason: "malformed" });
  });

  it("reads every sensor of the fixture, skipping the bad ones and the one with no files", async () => {
    const { readings, problems } = await readW1Temperatures(join(FIXTURES, "pi4-bookworm"));
    assert.deepEqual(
      [...readings].sort((left, right) => left.id.localeCompare(right.id)),
      [
        { id: "28-0316a2795aff", celsius: 23.125 },
        { id: "3b-3c01d607e3aa", celsius: 19.5 },
      ],
    );
    assert.deepEqual(problems.map((problem) => `${problem.id} ${problem.reason}`).sort(), [
      "28-000000000000 no_data",
      "28-01193a4b5c6d power_on_reset",
      "28-0416b1c3d4ff crc_mismatch",
      "28-0517c1d2e3ff malformed",
    ]);
  });

  it("finds no sensors, and no error, without a 1-Wire bus", async () => {
    assert.deepEqual(await readW1Temperatures(join(FIXTURES, "bare")), { readings: [], problems: [] });
  });
});

describe("thermal zones and CPU frequency", () => {
  it("reads zones in millidegrees and picks the SoC zone", async () => {
    const zones = await readThermalZones(join(FIXTURES, "pi4-bookworm"));
    assert.deepEqual(zones, [{ zone: "thermal_zone0", type: "cpu-thermal", celsius: 48.312 }]);
    assert.equal(socZone(zones)?.celsius, 48.312);
    assert.equal(socZone(await readThermalZones(join(FIXTURES, "pi3-legacy")))?.type, "bcm2835_thermal");
  });

  it("skips a zone whose temp file is missing", async () => {
    assert.deepEqual(await readThermalZones(join(FIXTURES, "bare")), []);
  });

  it("reads scaling_cur_freq per CPU in MHz", async () => {
    assert.deepEqual(await readCpuFrequencies(join(FIXTURES, "pi4-bookworm")), [
      { cpu: "cpu0", mhz: 1500 },
      { cpu: "cpu1", mhz: 1500 },
      { cpu: "cpu2", mhz: 600 },
      { cpu: "cpu3", mhz: 600 },
    ]);
    assert.deepEqual(await readCpuFrequencies(join(FIXTURES, "pi3-legacy")), []);
  });
});

describe("naturalCompare", () => {
  it("orders numbered sysfs entries by number", () => {
    assert.deepEqual(
      ["cpu10", "cpu2", "cpufreq", "cpu1", "thermal_zone10", "thermal_zone9"].sort(naturalCompare),
      ["cpu1", "cpu2", "cpu10", "cpufreq", "thermal_zone9", "thermal_zone10"],
    );
  });
});
