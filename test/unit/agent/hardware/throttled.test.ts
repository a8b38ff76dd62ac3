import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { decodeThrottled, parseThrottledWord, ThrottledReader } from "../../../../hardware/throttled.ts";
import { cannedRunner, FIXTURES } from "../collect-fakes.ts";

describe("get_throttled", () => {
  it("decodes each bit into its own flag", () => {
    assert.deepEqual(decodeThrottled(0x50005), {
      under_voltage_now: 1,
      freq_capped_now: 0,
      throttled_now: 1,
      soft_temp_limit_now: 0,
      under_voltage_occurred: 1,
      freq_capped_occurred: 0,
      throttled_occurred: 1,
      soft_temp_limit_occurred: 0,
    });
    const soft = decodeThrottled(0x80008);
    assert.equal(soft.soft_temp_limit_now, 1);
    assert.equal(soft.soft_temp_limit_occurred, 1);
    assert.equal(soft.under_voltage_now, 0);
    assert.ok(Object.values(decodeThrottled(0)).every((flag) => flag === 0));
  });

  it("parses vcgencmd's and sysfs's spellings", () => {
    assert.equal(parseThrottledWord("throttled=0x50005\n"), 0x50005);
    assert.equal(parseThrottledWord("50005\n"), 0x50005);
    assert.equal(parseThrottledWord("0\n"), 0);
    assert.equal(parseThrottledWord("VCHI initialization failed"), undefined);
  });

  it("auto: vcgencmd first; the sysfs file when vcgencmd is missing, and vcgencmd is not retried", async () => {
    const root = join(FIXTURES, "pi4-bookworm");
    const live = new ThrottledReader({
      root,
      source: "auto",
      run: cannedRunner({ "vcgencmd get_throttled": { stdout: "throttled=0x20002\n" } }),
    });
    assert.deepEqual(await live.read(), {
      source: "vcgencmd",
      word: 0x20002,
      flags: decodeThrottled(0x20002),
    });

    const calls: string[] = [];
    const noVcgencmd = new ThrottledReader({ root, source: "auto", run: cannedRunner({}, calls) });
    assert.equal((await noVcgencmd.read())?.source, "sysfs");
    assert.equal((await noVcgencmd.read())?.word, 0x50005);
    assert.equal(calls.length, 1);
  });

  it("auto: vcgencmd without access to the firmware falls back too", async () => {
    const reader = new ThrottledReader({
      root: join(FIXTURES, "pi4-bookworm"),
      source: "auto",
      run: cannedRunner({
        "vcgencmd get_throttled": { exitCode: 255, stdout: "VCHI initialization failed\n" },
      }),
    });
    assert.equal((await reader.read())?.source, "sysfs");
  });

  it("finds the file under the firmware driver's directory when the device-tree name differs", async () => {
    const reader = new ThrottledReader({
      root: join(FIXTURES, "pi3-legacy"),
      source: "sysfs",
      run: cannedRunner({}),
    });
    assert.deepEqual(await reader.read(), {
      source: "sysfs",
      word: 0x80008,
      flags: decodeThrottled(0x80008),
    });
  });

  it("hwmon gives under-voltage alone", async () => {
    const reader = new ThrottledReader({
      root: join(FIXTURES, "pi4-bookworm"),
      source: "hwmon",
      run: cannedRunner({}),
    });
    assert.deepEqual(await reader.read(), {
      source: "hwmon",
      word: undefined,
      flags: { under_voltage_now: 1 },
    });
  });

  it("reads nothing, without failing, where there is no Pi firmware", async () => {
    const reader = new ThrottledReader({
      root: join(FIXTURES, "bare"),
      source: "auto",
      run: cannedRunner({}),
    });
    assert.equal(await reader.read(), undefined);
    const off = new ThrottledReader({
      root: join(FIXTURES, "pi4-bookworm"),
      source: "off",
      run: cannedRunner({}),
    });
    assert.equal(await off.read(), undefined);
  });
});
