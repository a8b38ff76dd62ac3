/**
 * Pure parsers for the /proc files the `system` and `net` collectors read. Kept apart from the
 * reading so each can be tested against captured text.
 */

export interface CpuTimes {
  readonly user: number;
  readonly nice: number;
  readonly system: number;
  readonly idle: number;
  readonly iowait: number;
  readonly irq: number;
  readonly softirq: number;
  readonly steal: number;
}

export interface ProcStat {
  /** The aggregate `cpu` line, in clock ticks since boot. */
  readonly cpu: CpuTimes | undefined;
  readonly procsRunning: number | undefined;
  readonly procsBlocked: number | undefined;
}

/** /proc/stat */
export function parseProcStat(text: string): ProcStat {
  let cpu: CpuTimes | undefined;
  let procsRunning: number | undefined;
  let procsBlocked: number | undefined;
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    const key = fields[0];
    if (key === "cpu") {
      const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.slice(1, 9).map(Number);
      const values = [user, nice, system, idle, iowait, irq, softirq, steal];
      if (values.slice(0, 4).every((value) => Number.isFinite(value))) {
        cpu = {
          user: user as number,
          nice: nice as number,
          system: system as number,
          idle: idle as number,
          iowait: finiteOr(iowait, 0),
          irq: finiteOr(irq, 0),
          softirq: finiteOr(softirq, 0),
          steal: finiteOr(steal, 0),
        };
      }
    } else if (key === "procs_running") {
      procsRunning = toNumber(fields[1]);
    } else if (key === "procs_blocked") {
      procsBlocked = toNumber(fields[1]);
    }
  }
  return { cpu, procsRunning, procsBlocked };
}

export interface CpuPercentages {
  readonly busy: number;
  readonly user: number;
  readonly system: number;
  readonly iowait: number;
  readonly steal: number;
}

/** Percentages of all CPU time between two samples; undefined when no tick passed. */
export function cpuPercentages(previous: CpuTimes, current: CpuTimes): CpuPercentages | undefined {
  const total = (times: CpuTimes): number =>
    times.user +
    times.nice +
    times.system +
    times.idle +
    times.iowait +
    times.irq +
    times.softirq +
    times.steal;
  const elapsed = total(current) - total(previous);
  if (!(elapsed > 0)) return undefined;
  const share = (delta: number): number => round2((100 * Math.max(0, delta)) / elapsed);
  const idle = current.idle + current.iowait - (previous.idle + previous.iowait);
  return {
    busy: share(elapsed - idle),
    user: share(current.user + current.nice - previous.user - previous.nice),
    system: share(
      current.system + current.irq + current.softirq - previous.system - previous.irq - previous.softirq,
    ),
    iowait: share(current.iowait - previous.iowait),
    steal: share(current.steal - previous.steal),
  };
}

export interface LoadAverage {
  readonly load1: number;
  readonly load5: number;
  readonly load15: number;
}

/** /proc/loadavg: `0.20 0.18 0.12 1/80 11206` */
export function parseLoadavg(text: string): LoadAverage | undefined {
  const [load1, load5, load15] = text.trim().split(/\s+/).map(Number);
  if (![load1, load5, load15].every((value) => Number.isFinite(value))) return undefined;
  return { load1: load1 as number, load5: load5 as number, load15: load15 as number };
}

/** /proc/uptime: `350735.47 234388.90`, seconds since boot. */
export function parseUptime(text: string): number | undefined {
  return toNumber(text.trim().split(/\s+/)[0]);
}

/** /proc/meminfo, values in bytes (the file says kB and means KiB). */
export function parseMeminfo(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (!match) continue;
    const amount = Number(match[2]);
    values.set(match[1] as string, line.trimEnd().endsWith("kB") ? amount * 1024 : amount);
  }
  return values;
}

export interface InterfaceCounters {
  readonly iface: string;
  readonly rxBytes: number;
  readonly rxPackets: number;
  readonly rxErrors: number;
  readonly rxDropped: number;
  readonly txBytes: number;
  readonly txPackets: number;
  readonly txErrors: number;
  readonly txDropped: number;
}

/** /proc/net/dev */
export function parseNetDev(text: string): InterfaceCounters[] {
  const interfaces: InterfaceCounters[] = [];
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const iface = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (iface.length === 0 || fields.length < 16 || !fields.every((field) => Number.isFinite(field)))
      continue;
    const at = (index: number): number => fields[index] as number;
    interfaces.push({
      iface,
      rxBytes: at(0),
      rxPackets: at(1),
      rxErrors: at(2),
      rxDropped: at(3),
      txBytes: at(8),
      txPackets: at(9),
      txErrors: at(10),
      txDropped: at(11),
    });
  }
  return interfaces;
}

export interface DiskCounters {
  readonly device: string;
  readonly reads: number;
  readonly readBytes: number;
  readonly writes: number;
  readonly writtenBytes: number;
  /** Milliseconds the device had I/O in flight. */
  readonly ioMs: number;
}

const SECTOR_BYTES = 512;
/** Partitions and virtual devices: their I/O is already in the whole disk's line, or is not a disk. */
const NOT_A_WHOLE_DISK =
  /^(?:loop|ram|zram|fd|sr|dm-|md)\d*|^(?:mmcblk\d+p\d+|nvme\d+n\d+p\d+|[hsv]d[a-z]+\d+)$/;

/** /proc/diskstats, whole disks only (mmcblk0, sda, nvme0n1). */
export function parseDiskstats(text: string): DiskCounters[] {
  const disks: DiskCounters[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    const device = fields[2];
    if (device === undefined || fields.length < 14 || NOT_A_WHOLE_DISK.test(device)) continue;
    const number = (index: number): number => Number(fields[index]);
    const values = [number(3), number(5), number(7), number(9), number(12)];
    if (!values.every((value) => Number.isFinite(value))) continue;
    disks.push({
      device,
      reads: number(3),
      readBytes: number(5) * SECTOR_BYTES,
      writes: number(7),
      writtenBytes: number(9) * SECTOR_BYTES,
      ioMs: number(12),
    });
  }
  return disks;
}

export interface MountEntry {
  readonly device: string;
  readonly mountPoint: string;
  readonly fsType: string;
}

/** /proc/mounts (or /proc/self/mounts); octal escapes (`\040` for a space) are decoded. */
export function parseMounts(text: string): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const [device, mountPoint, fsType] = line.trim().split(/\s+/);
    if (device === undefined || mountPoint === undefined || fsType === undefined) continue;
    mounts.push({ device: unescapeMount(device), mountPoint: unescapeMount(mountPoint), fsType });
  }
  return mounts;
}

function unescapeMount(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_match, octal: string) =>
    String.fromCharCode(Number.parseInt(octal, 8)),
  );
}

const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;

export interface DefaultRoute {
  readonly iface: string;
  /** Dotted IPv4. */
  readonly gateway: string;
}

/** The IPv4 default route with the lowest metric, from /proc/net/route (addresses in host order hex). */
export function parseDefaultRoute(text: string): DefaultRoute | undefined {
  let best: (DefaultRoute & { metric: number }) | undefined;
  for (const line of text.split("\n").slice(1)) {
    const [iface, destination, gateway, flags, , , metric, mask] = line.trim().split(/\s+/);
    if (iface === undefined || gateway === undefined || flags === undefined || metric === undefined) continue;
    const flagBits = Number.parseInt(flags, 16);
    if (destination !== "00000000" || mask !== "00000000") continue;
    if ((flagBits & (RTF_UP | RTF_GATEWAY)) !== (RTF_UP | RTF_GATEWAY)) continue;
    const address = littleEndianHexToIpv4(gateway);
    const metricValue = Number(metric);
    if (address === undefined || !Number.isFinite(metricValue)) continue;
    if (!best || metricValue < best.metric) best = { iface, gateway: address, metric: metricValue };
  }
  return best ? { iface: best.iface, gateway: best.gateway } : undefined;
}

function littleEndianHexToIpv4(hex: string): string | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return undefined;
  const octets = [6, 4, 2, 0].map((offset) => Number.parseInt(hex.slice(offset, offset + 2), 16));
  return octets.join(".");
}

export interface WirelessStatus {
  readonly iface: string;
  /** The driver's link quality (out of 70 for most drivers). */
  readonly linkQuality: number;
  readonly signalDbm: number;
}

/**
 * /proc/net/wireless:
 *   wlan0: 0000   70.  -40.  -256        0      0      0      0      0        0
 * Some old drivers report the level as an unsigned byte (216 for -40 dBm).
 */
export function parseWireless(text: string): WirelessStatus[] {
  const statuses: WirelessStatus[] = [];
  for (const line of text.split("\n").slice(2)) {
    const match = /^\s*([^:\s]+):\s+\S+\s+(-?\d+)\.?\s+(-?\d+)\.?/.exec(line);
    if (!match) continue;
    let signal = Number(match[3]);
    if (signal > 63) signal -= 256;
    statuses.push({ iface: match[1] as string, linkQuality: Number(match[2]), signalDbm: signal });
  }
  return statuses;
}

function toNumber(text: string | undefined): number | undefined {
  if (text === undefined || text.length === 0) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

function finiteOr(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) ? value : fallback;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
