import { readThermalZones, socZone } from "../../hardware/thermal.ts";
import { promisedFs } from "../../runtime/fs/promised-fs.ts";
import { listProcDirIfPresent, readProcTextIfPresent, underRoot } from "../../hardware/sysfs.ts";
import type { Collector, CollectContext, Reading } from "./collector.ts";
import { mountSegment, sanitizeSegment } from "./metric-name.ts";
import {
  cpuPercentages,
  parseDiskstats,
  parseLoadavg,
  parseMeminfo,
  parseMounts,
  parseNetDev,
  parseProcStat,
  parseUptime,
} from "./procfs.ts";
import type { CpuTimes } from "./procfs.ts";

/**
 * Host health from /proc, /sys and statfs(2): a handful of small file reads per run (the /proc
 * ones synchronous, see hardware/sysfs.ts `readProcTextIfPresent`).
 *
 * systeminformation is not used here: on Linux most of its calls start shells (`df`, `lsblk | grep
 * | awk`, `cat /proc/stat | grep` through execSync, which blocks the event loop), and importing it
 * adds about 10 MB of RSS. See README.md for the measurements.
 */
export interface SystemCollectorOptions {
  /** `/` on a device; a fixture tree in tests. */
  readonly root: string;
  /** Only these mount points; default: every mounted block device (`/dev/...`), once per device. */
  readonly mounts?: readonly string[];
  /** Only these interfaces; default: all but `lo` and container `veth*` pairs. */
  readonly interfaces?: readonly string[];
  /** Injected for tests; statfs(2) of a path under `root`. */
  readonly statfs?: (path: string) => Promise<StatfsResult>;
}

export interface StatfsResult {
  readonly bsize: number;
  readonly blocks: number;
  readonly bfree: number;
  readonly bavail: number;
  readonly files: number;
  readonly ffree: number;
}

const SKIPPED_INTERFACES = /^(?:lo|veth.*)$/;
const SKIPPED_FS_TYPES = new Set(["squashfs", "iso9660", "udf"]);

export class SystemCollector implements Collector {
  readonly name = "system";
  #previousCpu: CpuTimes | undefined;
  readonly #statfs: (path: string) => Promise<StatfsResult>;

  constructor(private readonly options: SystemCollectorOptions) {
    this.#statfs = options.statfs ?? ((path) => promisedFs.statfs(path));
  }

  async collect(context: CollectContext): Promise<Reading[]> {
    const { root } = this.options;
    const read = (path: string): string | undefined => {
      try {
        return readProcTextIfPresent(root, path);
      } catch (error) {
        context.log.debug({ path, err: error }, "system: unreadable");
        return undefined;
      }
    };
    const stat = read("/proc/stat");
    const loadavg = read("/proc/loadavg");
    const uptime = read("/proc/uptime");
    const meminfo = read("/proc/meminfo");
    const netDev = read("/proc/net/dev");
    const diskstats = read("/proc/diskstats");
    const mounts = read("/proc/self/mounts") ?? read("/proc/mounts");
    let pids: string[] = [];
    try {
      pids = listProcDirIfPresent(root, "/proc");
    } catch (error) {
      context.log.debug({ err: error }, "system: /proc unreadable");
    }
    const zones = await readThermalZones(root).catch(() => []);
    const readings: Reading[] = [];
    const add = (name: string, value: number | undefined): void => {
      if (value !== undefined && Number.isFinite(value)) readings.push({ name, value });
    };

    if (stat !== undefined) {
      const parsed = parseProcStat(stat);
      if (parsed.cpu) {
        const percentages = this.#previousCpu ? cpuPercentages(this.#previousCpu, parsed.cpu) : undefined;
        this.#previousCpu = parsed.cpu;
        if (percentages) {
          add("cpu.busy_pct", percentages.busy);
          add("cpu.user_pct", percentages.user);
          add("cpu.system_pct", percentages.system);
          add("cpu.iowait_pct", percentages.iowait);
          add("cpu.steal_pct", percentages.steal);
        }
      }
      add("processes.running", parsed.procsRunning);
      add("processes.blocked", parsed.procsBlocked);
    }
    const processCount = pids.filter((entry) => /^\d+$/.test(entry)).length;
    if (processCount > 0) add("processes.total", processCount);

    const load = loadavg === undefined ? undefined : parseLoadavg(loadavg);
    add("load.1m", load?.load1);
    add("load.5m", load?.load5);
    add("load.15m", load?.load15);
    add("uptime_s", uptime === undefined ? undefined : parseUptime(uptime));

    if (meminfo !== undefined) this.#memory(parseMeminfo(meminfo), add);
    if (netDev !== undefined) this.#interfaces(netDev, add);
    if (diskstats !== undefined) {
      for (const disk of parseDiskstats(diskstats)) {
        const prefix = `diskio.${sanitizeSegment(disk.device)}`;
        add(`${prefix}.reads`, disk.reads);
        add(`${prefix}.read_bytes`, disk.readBytes);
        add(`${prefix}.writes`, disk.writes);
        add(`${prefix}.written_bytes`, disk.writtenBytes);
        add(`${prefix}.io_ms`, disk.ioMs);
      }
    }
    if (mounts !== undefined) await this.#diskUsage(mounts, add, context);
    add("cpu_temp_c", socZone(zones)?.celsius);
    return readings;
  }

  #memory(values: Map<string, number>, add: (name: string, value: number | undefined) => void): void {
    const total = values.get("MemTotal");
    const available = values.get("MemAvailable") ?? sumDefined(values, ["MemFree", "Buffers", "Cached"]);
    add("memory.total_bytes", total);
    add("memory.available_bytes", available);
    add("memory.free_bytes", values.get("MemFree"));
    add("memory.buffers_bytes", values.get("Buffers"));
    add("memory.cached_bytes", values.get("Cached"));
    if (total !== undefined && available !== undefined && total > 0) {
      add("memory.used_bytes", total - available);
      add("memory.used_pct", round2((100 * (total - available)) / total));
    }
    const swapTotal = values.get("SwapTotal");
    const swapFree = values.get("SwapFree");
    add("swap.total_bytes", swapTotal);
    if (swapTotal !== undefined && swapFree !== undefined) {
      add("swap.used_bytes", swapTotal - swapFree);
      if (swapTotal > 0) add("swap.used_pct", round2((100 * (swapTotal - swapFree)) / swapTotal));
    }
  }

  #interfaces(text: string, add: (name: string, value: number | undefined) => void): void {
    const wanted = this.options.interfaces;
    for (const counters of parseNetDev(text)) {
      if (wanted ? !wanted.includes(counters.iface) : SKIPPED_INTERFACES.test(counters.iface)) continue;
      const prefix = `iface.${sanitizeSegment(counters.iface)}`;
      add(`${prefix}.rx_bytes`, counters.rxBytes);
      add(`${prefix}.rx_packets`, counters.rxPackets);
      add(`${prefix}.rx_errors`, counters.rxErrors);
      add(`${prefix}.rx_dropped`, counters.rxDropped);
      add(`${prefix}.tx_bytes`, counters.txBytes);
      add(`${prefix}.tx_packets`, counters.txPackets);
      add(`${prefix}.tx_errors`, counters.txErrors);
      add(`${prefix}.tx_dropped`, counters.txDropped);
    }
  }

  async #diskUsage(
    mountsText: string,
    add: (name: string, value: number | undefined) => void,
    context: CollectContext,
  ): Promise<void> {
    const wanted = this.options.mounts;
    const seenDevices = new Set<string>();
    const mountPoints: string[] = [];
    for (const mount of parseMounts(mountsText)) {
      if (wanted) {
        if (wanted.includes(mount.mountPoint) && !mountPoints.includes(mount.mountPoint)) {
          mountPoints.push(mount.mountPoint);
        }
        continue;
      }
      // Block devices only: never statfs a network mount, which can hang a thread-pool thread.
      if (!mount.device.startsWith("/dev/") || SKIPPED_FS_TYPES.has(mount.fsType)) continue;
      if (seenDevices.has(mount.device)) continue;
      seenDevices.add(mount.device);
      mountPoints.push(mount.mountPoint);
    }
    for (const mountPoint of mountPoints) {
      let stats: StatfsResult;
      try {
        stats = await this.#statfs(underRoot(this.options.root, mountPoint));
      } catch (error) {
        context.log.debug({ mountPoint, err: error }, "system: statfs failed");
        continue;
      }
      const prefix = `disk.${mountSegment(mountPoint)}`;
      const used = (stats.blocks - stats.bfree) * stats.bsize;
      const available = stats.bavail * stats.bsize;
      add(`${prefix}.total_bytes`, stats.blocks * stats.bsize);
      add(`${prefix}.used_bytes`, used);
      add(`${prefix}.free_bytes`, available);
      // As df computes it: the root-reserved blocks count as neither used nor available.
      if (used + available > 0) add(`${prefix}.used_pct`, round2((100 * used) / (used + available)));
      if (stats.files > 0) {
        add(`${prefix}.inodes_used_pct`, round2((100 * (stats.files - stats.ffree)) / stats.files));
      }
    }
  }
}

function sumDefined(values: Map<string, number>, keys: readonly string[]): number | undefined {
  let total = 0;
  for (const key of keys) {
    const value = values.get(key);
    if (value === undefined) return undefined;
    total += value;
  }
  return total;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
