import { CommandError, runCommand } from "../../hardware/command.ts";
import type { CommandRunner } from "../../hardware/command.ts";
import { listDirIfPresent, readTextIfPresent } from "../../hardware/sysfs.ts";
import type { Collector, CollectContext, Reading } from "./collector.ts";
import { sanitizeSegment } from "./metric-name.ts";
import { dnsLookup, httpCheck, parseIwLink, ping, tcpConnect } from "./net-probes.ts";
import type { DnsRecordType, PingSummary } from "./net-probes.ts";
import { parseDefaultRoute, parseWireless } from "./procfs.ts";

/** Each target carries its metric segment (`label`), already chosen and sanitized by the config. */
export interface PingTarget {
  readonly host: string;
  readonly label: string;
}
export interface TcpTarget {
  readonly host: string;
  readonly port: number;
  readonly label: string;
}
export interface DnsCheck {
  readonly name: string;
  readonly type: DnsRecordType;
  /** `192.168.1.1`, `127.0.0.1:5353`; absent: the system's resolvers. */
  readonly resolver: string | undefined;
  readonly label: string;
}
export interface HttpTarget {
  readonly url: string;
  readonly label: string;
}

export interface NetCollectorOptions {
  /** Where /proc/net/route, /proc/net/wireless and /sys/class/net are read; `/` on a device. */
  readonly root: string;
  readonly ping: readonly PingTarget[];
  readonly pingCount: number;
  readonly tcp: readonly TcpTarget[];
  readonly dns: readonly DnsCheck[];
  readonly http: readonly HttpTarget[];
  readonly gateway: boolean;
  readonly wifi: boolean;
  /** Per probe. */
  readonly timeoutMs: number;
  /** Probes running at once. */
  readonly concurrency: number;
  readonly run?: CommandRunner;
}

/** Home-network health: is the uplink there, how fast, and is the Wi-Fi any good. */
export class NetCollector implements Collector {
  readonly name = "net";
  readonly #run: CommandRunner;
  #iwMissing = false;

  constructor(private readonly options: NetCollectorOptions) {
    this.#run = options.run ?? runCommand;
  }

  async collect(context: CollectContext): Promise<Reading[]> {
    const { options } = this;
    const readings: Reading[] = [];
    const add = (name: string, value: number | undefined): void => {
      if (value !== undefined && Number.isFinite(value)) readings.push({ name, value });
    };
    const { signal } = context;
    const pingOptions = { count: options.pingCount, timeoutMs: options.timeoutMs, signal, run: this.#run };

    const probes: (() => Promise<void>)[] = [
      ...options.ping.map((target) => async () => {
        addPing(add, `ping.${target.label}`, await ping(target.host, pingOptions));
      }),
      ...options.tcp.map((target) => async () => {
        const result = await tcpConnect(target.host, target.port, options.timeoutMs, signal);
        add(`tcp.${target.label}.ok`, result.ok ? 1 : 0);
        if (result.ok) add(`tcp.${target.label}.connect_ms`, result.ms);
        else
          context.log.debug(
            { target: `${target.host}:${target.port}`, error: result.error },
            "net: tcp probe failed",
          );
      }),
      ...options.dns.map((check) => async () => {
        const result = await dnsLookup(check.name, check.type, check.resolver, options.timeoutMs, signal);
        add(`dns.${check.label}.ok`, result.ok ? 1 : 0);
        add(`dns.${check.label}.lookup_ms`, result.ms);
        if (!result.ok)
          context.log.debug(
            { name: check.name, resolver: check.resolver, error: result.error },
            "net: dns probe failed",
          );
      }),
      ...options.http.map((target) => async () => {
        const result = await httpCheck(target.url, options.timeoutMs, signal);
        add(`http.${target.label}.ok`, result.ok ? 1 : 0);
        if ("status" in result) {
          add(`http.${target.label}.status`, result.status);
          add(`http.${target.label}.time_ms`, result.ms);
        } else {
          context.log.debug({ url: target.url, error: result.error }, "net: http probe failed");
        }
      }),
    ];
    if (options.gateway) {
      probes.push(async () => {
        const route = await readTextIfPresent(options.root, "/proc/net/route").catch(() => undefined);
        const gateway = route === undefined ? undefined : parseDefaultRoute(route);
        add("gateway.default_route", gateway ? 1 : 0);
        if (gateway) addPing(add, "gateway", await ping(gateway.gateway, pingOptions));
      });
    }
    if (options.wifi) probes.push(() => this.#wifi(add, context));

    await runLimited(probes, options.concurrency, signal);
    return readings;
  }

  async #wifi(
    add: (name: string, value: number | undefined) => void,
    context: CollectContext,
  ): Promise<void> {
    const { root } = this.options;
    const wireless = await readTextIfPresent(root, "/proc/net/wireless").catch(() => undefined);
    const statuses = wireless === undefined ? [] : parseWireless(wireless);
    const interfaces = new Set(statuses.map((status) => status.iface));
    for (const iface of await listDirIfPresent(root, "/sys/class/net").catch(() => [])) {
      const hasWireless = await listDirIfPresent(root, `/sys/class/net/${iface}/wireless`).catch(() => []);
      if (hasWireless.length > 0) interfaces.add(iface);
    }
    for (const iface of interfaces) {
      const prefix = `wifi.${sanitizeSegment(iface)}`;
      const status = statuses.find((candidate) => candidate.iface === iface);
      const link = await this.#iwLink(iface, context);
      if (link) {
        add(`${prefix}.connected`, link.connected ? 1 : 0);
        add(`${prefix}.tx_bitrate_mbps`, link.txBitrateMbps);
        add(`${prefix}.rx_bitrate_mbps`, link.rxBitrateMbps);
        add(`${prefix}.frequency_mhz`, link.frequencyMhz);
      }
      add(
        `${prefix}.signal_dbm`,
        link?.signalDbm ?? (link?.connected === false ? undefined : status?.signalDbm),
      );
      if (link?.connected !== false) add(`${prefix}.link_quality`, status?.linkQuality);
    }
  }

  /** `iw dev <if> link`, when iw is installed; its absence is remembered and not retried. */
  async #iwLink(iface: string, context: CollectContext) {
    if (this.#iwMissing) return undefined;
    try {
      const result = await this.#run(["iw", "dev", iface, "link"], {
        timeoutMs: 2000,
        signal: context.signal,
        maxOutputBytes: 64 * 1024,
      });
      return result.exitCode === 0 ? parseIwLink(result.stdout) : undefined;
    } catch (error) {
      if (error instanceof CommandError && error.code === "not_found") {
        this.#iwMissing = true;
        context.log.info(
          {},
          "net: iw is not installed; Wi-Fi bitrates come from iw, signal still from /proc",
        );
      }
      return undefined;
    }
  }
}

function addPing(
  add: (name: string, value: number | undefined) => void,
  prefix: string,
  summary: PingSummary | undefined,
): void {
  // No summary at all (unknown host, ping missing) counts as total loss: the target was not reached.
  add(`${prefix}.loss_pct`, summary ? summary.lossPct : 100);
  add(`${prefix}.rtt_ms`, summary?.rttAvgMs);
  add(`${prefix}.rtt_min_ms`, summary?.rttMinMs);
  add(`${prefix}.rtt_max_ms`, summary?.rttMaxMs);
}

/** Runs tasks with at most `limit` in flight; stops starting new ones once aborted. */
async function runLimited(
  tasks: readonly (() => Promise<void>)[],
  limit: number,
  signal: AbortSignal,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length && !signal.aborted) {
      const task = tasks[next++] as () => Promise<void>;
      await task();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, worker));
  signal.throwIfAborted();
}
