import { listDirIfPresent, parseSysfsInteger, readTextIfPresent } from "./sysfs.ts";

export interface CpuFrequencyReading {
  /** `cpu0` */
  readonly cpu: string;
  readonly mhz: number;
}

const CPU_DIR = "/sys/devices/system/cpu";

/**
 * The kernel's `scaling_cur_freq` per CPU (kHz). On a Pi this is the frequency the kernel asked
 * for; when the firmware caps it (under-voltage, heat) the real clock is lower, which is what the
 * throttling flags report.
 */
export async function readCpuFrequencies(root: string): Promise<CpuFrequencyReading[]> {
  const cpus = (await listDirIfPresent(root, CPU_DIR)).filter((entry) => /^cpu\d+$/.test(entry));
  const readings: CpuFrequencyReading[] = [];
  for (const cpu of cpus) {
    const text = await readTextIfPresent(root, `${CPU_DIR}/${cpu}/cpufreq/scaling_cur_freq`).catch(
      () => undefined,
    );
    const khz = parseSysfsInteger(text);
    if (khz !== undefined) readings.push({ cpu, mhz: khz / 1000 });
  }
  return readings;
}
