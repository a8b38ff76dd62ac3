import { CommandError } from "./command.ts";
import type { CommandRunner } from "./command.ts";
import { listDirIfPresent, parseSysfsInteger, readTextIfPresent } from "./sysfs.ts";

/**
 * The firmware's get_throttled word: the low bits are live, bits 16+ are sticky since boot.
 * Bit 3 (soft temperature limit) exists on the Pi 3B+ and later.
 */
export const THROTTLED_BITS = {
  under_voltage_now: 0,
  freq_capped_now: 1,
  throttled_now: 2,
  soft_temp_limit_now: 3,
  under_voltage_occurred: 16,
  freq_capped_occurred: 17,
  throttled_occurred: 18,
  soft_temp_limit_occurred: 19,
} as const;

export type ThrottledFlag = keyof typeof THROTTLED_BITS;
export type ThrottledFlags = Partial<Record<ThrottledFlag, 0 | 1>>;

export function decodeThrottled(word: number): Record<ThrottledFlag, 0 | 1> {
  const flags = {} as Record<ThrottledFlag, 0 | 1>;
  for (const [name, bit] of Object.entries(THROTTLED_BITS) as [ThrottledFlag, number][]) {
    flags[name] = (word >>> bit) & 1 ? 1 : 0;
  }
  return flags;
}

/** `throttled=0x50005` (vcgencmd) or `50005` (sysfs, hex without a prefix). */
export function parseThrottledWord(text: string): number | undefined {
  const match = /^(?:throttled=)?(?:0x)?([0-9a-f]{1,8})$/i.exec(text.trim());
  return match ? Number.parseInt(match[1] as string, 16) : undefined;
}

/** Where the flags came from. `hwmon` only knows under-voltage (raspberrypi-hwmon's `in0_lcrit_alarm`). */
export type ThrottledSourceName = "vcgencmd" | "sysfs" | "hwmon";
/** `auto` tries vcgencmd, then the sysfs file, then hwmon. */
export type ThrottledSourceSetting = "auto" | ThrottledSourceName | "off";

export interface ThrottledReading {
  readonly source: ThrottledSourceName;
  /** The raw word, when the source gives one (vcgencmd and sysfs). */
  readonly word: number | undefined;
  readonly flags: ThrottledFlags;
}

/**
 * The firmware driver's file. Its path depends on the device tree (`soc:firmware` on the Pi 3/4),
 * so the driver's own directory under /sys/bus is searched too.
 */
const SYSFS_PATHS = ["/sys/devices/platform/soc/soc:firmware/get_throttled"];
const FIRMWARE_DRIVER_DIR = "/sys/bus/platform/drivers/raspberrypi-firmware";
const HWMON_DIR = "/sys/class/hwmon";

const VCGENCMD_TIMEOUT_MS = 2000;

export interface ThrottledReaderOptions {
  readonly root: string;
  readonly source: ThrottledSourceSetting;
  readonly run: CommandRunner;
}

/**
 * Reads the throttling flags. vcgencmd is preferred in `auto` because it asks the firmware live;
 * the sysfs file is the driver's cached copy (refreshed by raspberrypi-hwmon every 2 s) and logs a
 * one-time "deprecated" kernel warning on some kernels. A source that proves unavailable is not
 * tried again by this reader.
 */
export class ThrottledReader {
  #vcgencmdUnavailable = false;

  constructor(private readonly options: ThrottledReaderOptions) {}

  async read(signal?: AbortSignal): Promise<ThrottledReading | undefined> {
    const { source } = this.options;
    if (source === "off") return undefined;
    if (source === "vcgencmd" || (source === "auto" && !this.#vcgencmdUnavailable)) {
      const reading = await this.#fromVcgencmd(signal);
      if (reading || source === "vcgencmd") return reading;
    }
    if (source === "sysfs" || source === "auto") {
      const reading = await this.#fromSysfs();
      if (reading || source === "sysfs") return reading;
    }
    return this.#fromHwmon();
  }

  async #fromVcgencmd(signal?: AbortSignal): Promise<ThrottledReading | undefined> {
    try {
      const result = await this.options.run(["vcgencmd", "get_throttled"], {
        timeoutMs: VCGENCMD_TIMEOUT_MS,
        signal,
        maxOutputBytes: 4096,
      });
      const word = result.exitCode === 0 ? parseThrottledWord(result.stdout) : undefined;
      if (word === undefined) {
        // Not a Pi, or the user is not in the `video` group: "VCHI initialization failed".
        this.#vcgencmdUnavailable = true;
        return undefined;
      }
      return { source: "vcgencmd", word, flags: decodeThrottled(word) };
    } catch (error) {
      if (error instanceof CommandError && error.code === "not_found") this.#vcgencmdUnavailable = true;
      if (error instanceof CommandError && error.code === "aborted") throw error;
      return undefined;
    }
  }

  async #fromSysfs(): Promise<ThrottledReading | undefined> {
    const { root } = this.options;
    const driverDevices = await listDirIfPresent(root, FIRMWARE_DRIVER_DIR);
    const candidates = [
      ...SYSFS_PATHS,
      ...driverDevices.map((device) => `${FIRMWARE_DRIVER_DIR}/${device}/get_throttled`),
    ];
    for (const path of candidates) {
      const text = await readTextIfPresent(root, path).catch(() => undefined);
      const word = text === undefined ? undefined : parseThrottledWord(text);
      if (word !== undefined) return { source: "sysfs", word, flags: decodeThrottled(word) };
    }
    return undefined;
  }

  async #fromHwmon(): Promise<ThrottledReading | undefined> {
    const { root } = this.options;
    for (const hwmon of await listDirIfPresent(root, HWMON_DIR)) {
      const name = await readTextIfPresent(root, `${HWMON_DIR}/${hwmon}/name`).catch(() => undefined);
      if (name?.trim() !== "rpi_volt") continue;
      const alarm = parseSysfsInteger(
        await readTextIfPresent(root, `${HWMON_DIR}/${hwmon}/in0_lcrit_alarm`).catch(() => undefined),
      );
      if (alarm === undefined) return undefined;
      return { source: "hwmon", word: undefined, flags: { under_voltage_now: alarm ? 1 : 0 } };
    }
    return undefined;
  }
}
