import { listDirIfPresent, parseSysfsInteger, readTextIfPresent } from "./sysfs.ts";

/**
 * 1-Wire temperature sensors handled by the kernel's w1_therm driver: DS18B20 (family 28) and its
 * relatives DS18S20 (10), DS1822 (22), DS1825 (3b), DS28EA00 (42).
 */
const W1_DEVICES_DIR = "/sys/bus/w1/devices";
const THERM_FAMILY = /^(?:10|22|28|3b|42)-[0-9a-f]+$/i;

export interface W1Reading {
  /** The sensor's sysfs id, `28-0316a2795aff`. */
  readonly id: string;
  readonly celsius: number;
}

export type W1ProblemReason =
  /** The driver read the scratchpad and its CRC did not match (`crc=.. NO`): a noisy bus. */
  | "crc_mismatch"
  /** 85.000 °C with the reset scratchpad: the sensor reset (power dip) before converting. */
  | "power_on_reset"
  /** An all-zero scratchpad (its CRC is 0, so the driver says YES): nothing answered. */
  | "no_data"
  /** Neither `w1_slave` nor `temperature` has a value we understand. */
  | "malformed"
  /** The read itself failed (the sensor was unplugged while reading). */
  | "unreadable";

export interface W1Problem {
  readonly id: string;
  readonly reason: W1ProblemReason;
}

export type W1SlaveParse =
  { readonly ok: true; readonly celsius: number } | { readonly ok: false; readonly reason: W1ProblemReason };

/**
 * Parses `w1_slave`:
 *   72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
 *   72 01 4b 46 7f ff 0e 10 57 t=23125
 */
export function parseW1Slave(text: string): W1SlaveParse {
  const [crcLine, valueLine] = text.split("\n");
  if (crcLine === undefined || valueLine === undefined) return { ok: false, reason: "malformed" };
  const crc = /crc=[0-9a-f]{2} (YES|NO)\s*$/i.exec(crcLine);
  if (!crc) return { ok: false, reason: "malformed" };
  if (crc[1]?.toUpperCase() !== "YES") return { ok: false, reason: "crc_mismatch" };
  const bytes = crcLine.split(":")[0]?.trim().split(/\s+/) ?? [];
  if (bytes.length > 0 && bytes.every((byte) => byte === "00")) return { ok: false, reason: "no_data" };
  const value = /t=(-?\d+)\s*$/.exec(valueLine);
  if (!value) return { ok: false, reason: "malformed" };
  const milli = Number(value[1]);
  if (milli === 85000 && bytes[0] === "50" && bytes[1] === "05")
    return { ok: false, reason: "power_on_reset" };
  return { ok: true, celsius: milli / 1000 };
}

/**
 * Reads every sensor, one after the other: the kernel blocks each read for the conversion time
 * (up to 750 ms), and reading them in parallel would occupy libuv's small thread pool and delay
 * every other collector's file reads.
 */
export async function readW1Temperatures(
  root: string,
  signal?: AbortSignal,
): Promise<{ readings: W1Reading[]; problems: W1Problem[] }> {
  const ids = (await listDirIfPresent(root, W1_DEVICES_DIR)).filter((entry) => THERM_FAMILY.test(entry));
  const readings: W1Reading[] = [];
  const problems: W1Problem[] = [];
  for (const id of ids) {
    signal?.throwIfAborted();
    const result = await readSensor(root, id);
    if (result.ok) readings.push({ id, celsius: result.celsius });
    else problems.push({ id, reason: result.reason });
  }
  return { readings, problems };
}

async function readSensor(root: string, id: string): Promise<W1SlaveParse> {
  try {
    const slave = await readTextIfPresent(root, `${W1_DEVICES_DIR}/${id}/w1_slave`);
    if (slave !== undefined) return parseW1Slave(slave);
    // Newer kernels also offer `temperature` (millidegrees; the driver checks the CRC itself).
    const milli = parseSysfsInteger(await readTextIfPresent(root, `${W1_DEVICES_DIR}/${id}/temperature`));
    return milli === undefined ? { ok: false, reason: "malformed" } : { ok: true, celsius: milli / 1000 };
  } catch {
    return { ok: false, reason: "unreadable" };
  }
}
