import { listDirIfPresent, parseSysfsInteger, readTextIfPresent } from "./sysfs.ts";

/** One kernel thermal zone: `/sys/class/thermal/thermal_zoneN/{type,temp}` (temp in millidegrees). */
export interface ThermalZoneReading {
  /** `thermal_zone0` */
  readonly zone: string;
  /** `cpu-thermal` on a Pi 4/5 with a recent kernel, `bcm2835_thermal` on older ones; absent if unreadable. */
  readonly type: string | undefined;
  readonly celsius: number;
}

const ZONES_DIR = "/sys/class/thermal";

/** Every zone with a readable temperature; a zone whose `temp` is missing or garbled is skipped. */
export async function readThermalZones(root: string): Promise<ThermalZoneReading[]> {
  const zones = (await listDirIfPresent(root, ZONES_DIR)).filter((entry) => /^thermal_zone\d+$/.test(entry));
  const readings: ThermalZoneReading[] = [];
  for (const zone of zones) {
    const milli = parseSysfsInteger(await readOptional(root, `${ZONES_DIR}/${zone}/temp`));
    if (milli === undefined) continue;
    const type = (await readOptional(root, `${ZONES_DIR}/${zone}/type`))?.trim() || undefined;
    readings.push({ zone, type, celsius: milli / 1000 });
  }
  return readings;
}

// A zone whose sensor is gone (EIO, ENODATA) reads as absent rather than failing the whole reader.
async function readOptional(root: string, path: string): Promise<string | undefined> {
  try {
    return await readTextIfPresent(root, path);
  } catch {
    return undefined;
  }
}

const SOC_ZONE_TYPE = /cpu|soc|bcm2|x86_pkg/i;

/**
 * The zone that stands for the SoC/CPU: the first whose type names the CPU or SoC (`cpu-thermal`,
 * `bcm2835_thermal`, `x86_pkg_temp`), else the first zone.
 */
export function socZone(zones: readonly ThermalZoneReading[]): ThermalZoneReading | undefined {
  return zones.find((zone) => zone.type !== undefined && SOC_ZONE_TYPE.test(zone.type)) ?? zones[0];
}
