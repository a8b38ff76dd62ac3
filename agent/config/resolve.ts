import { parseDuration } from "../../protocol/duration.ts";
import { defaultPrefix, targetSegment } from "../collectors/metric-name.ts";
import type { AgentConfig, AgentConfigFile, ServerTransport } from "./types.ts";
import { splitHostPort } from "./hosts.ts";
import type { ConfigProblem } from "./validate.ts";

/** Every default, in one place. README.md lists them. */
export const DEFAULTS = {
  serverTimeout: "30s",
  bufferMaxBytes: 64 * 1024 * 1024,
  clock: { syncCheck: "auto", root: "/", maxHold: "6h", maxHeldReadings: 20_000, poll: "10s" },
  logLevel: "info",
  system: { schedule: "*/10 * * * * *", timeout: "5s", root: "/" },
  pi: { schedule: "*/10 * * * * *", timeout: "10s", root: "/", throttled: "auto" },
  net: {
    schedule: "0 * * * * *",
    timeout: "30s",
    root: "/",
    probeTimeout: "2s",
    pingCount: 3,
    concurrency: 4,
  },
  exec: { schedule: "0 * * * * *", timeout: "10s", maxOutputBytes: 1024 * 1024 },
  self: { schedule: "0 * * * * *", timeout: "5s" },
} as const;

/** Fills in defaults and converts to the runtime shape. The input must already be valid. */
export function resolveAgentConfig(file: AgentConfigFile): AgentConfig {
  const collect = file.collect ?? {};
  const system = collect.system ?? {};
  const pi = collect.pi ?? {};
  const net = collect.net ?? {};
  const self = collect.self ?? {};
  const clock = file.clock ?? {};
  const pins = file.server.pin_sha256;
  return {
    device: file.device,
    prefix: file.prefix ?? defaultPrefix(file.device),
    keyFile: file.key_file,
    server: {
      url: file.server.url,
      transport: new URL(file.server.url).protocol.slice(0, -1) as ServerTransport,
      caFile: file.server.ca_file,
      pinSha256: pins === undefined ? [] : typeof pins === "string" ? [pins] : pins,
      timeoutMs: ms(file.server.timeout ?? DEFAULTS.serverTimeout),
      linesPerSecond: file.server.lines_per_second,
    },
    buffer: { maxBytes: file.buffer?.max_bytes ?? DEFAULTS.bufferMaxBytes },
    clock: {
      syncCheck: clock.sync_check ?? DEFAULTS.clock.syncCheck,
      root: clock.root ?? DEFAULTS.clock.root,
      maxHoldMs: ms(clock.max_hold ?? DEFAULTS.clock.maxHold),
      maxHeldReadings: clock.max_held_readings ?? DEFAULTS.clock.maxHeldReadings,
      pollMs: ms(clock.poll ?? DEFAULTS.clock.poll),
    },
    log: { level: file.log?.level ?? DEFAULTS.logLevel },
    collect: {
      system: {
        enabled: system.enabled ?? true,
        schedule: system.schedule ?? DEFAULTS.system.schedule,
        timeoutMs: ms(system.timeout ?? DEFAULTS.system.timeout),
        root: system.root ?? DEFAULTS.system.root,
        mounts: system.mounts,
        interfaces: system.interfaces,
      },
      pi: {
        enabled: pi.enabled ?? true,
        schedule: pi.schedule ?? DEFAULTS.pi.schedule,
        timeoutMs: ms(pi.timeout ?? DEFAULTS.pi.timeout),
        root: pi.root ?? DEFAULTS.pi.root,
        throttled: pi.throttled ?? DEFAULTS.pi.throttled,
        w1: pi.w1 ?? true,
        w1Names: pi.w1_names ?? {},
      },
      net: {
        enabled: net.enabled ?? true,
        schedule: net.schedule ?? DEFAULTS.net.schedule,
        timeoutMs: ms(net.timeout ?? DEFAULTS.net.timeout),
        root: net.root ?? DEFAULTS.net.root,
        probeTimeoutMs: ms(net.probe_timeout ?? DEFAULTS.net.probeTimeout),
        pingCount: net.ping_count ?? DEFAULTS.net.pingCount,
        concurrency: net.concurrency ?? DEFAULTS.net.concurrency,
        ping: (net.ping ?? []).map((entry) => {
          const host = typeof entry === "string" ? entry : entry.host;
          return {
            host,
            label: (typeof entry === "string" ? undefined : entry.label) ?? targetSegment(host),
          };
        }),
        tcp: (net.tcp ?? []).map((entry) => {
          const { host, port } =
            typeof entry === "string" ? (splitHostPort(entry) as { host: string; port: number }) : entry;
          const label =
            (typeof entry === "string" ? undefined : entry.label) ?? targetSegment(`${host}:${port}`);
          return { host, port, label };
        }),
        dns: (net.dns ?? []).map((entry) => ({
          name: entry.name,
          type: entry.type ?? "A",
          resolver: entry.resolver,
          label:
            entry.label ??
            (entry.resolver === undefined
              ? targetSegment(entry.name)
              : `${targetSegment(entry.name)}_via_${targetSegment(entry.resolver)}`),
        })),
        http: (net.http ?? []).map((entry) => {
          const url = typeof entry === "string" ? entry : entry.url;
          return { url, label: (typeof entry === "string" ? undefined : entry.label) ?? targetSegment(url) };
        }),
        gateway: net.gateway ?? true,
        wifi: net.wifi ?? true,
      },
      exec: (collect.exec ?? []).map((entry) => ({
        name: entry.name,
        command: entry.command,
        schedule: entry.schedule ?? DEFAULTS.exec.schedule,
        timeoutMs: ms(entry.timeout ?? DEFAULTS.exec.timeout),
        env: entry.env,
        maxOutputBytes: entry.max_output_bytes ?? DEFAULTS.exec.maxOutputBytes,
      })),
      self: {
        enabled: self.enabled ?? true,
        schedule: self.schedule ?? DEFAULTS.self.schedule,
        timeoutMs: ms(self.timeout ?? DEFAULTS.self.timeout),
      },
    },
    control: file.control ?? {},
    mqtt: file.mqtt ?? {},
  };
}

function ms(duration: string): number {
  return parseDuration(duration);
}

/** Two probes of one kind with the same label would write the same series. */
export function labelClashes(config: AgentConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const { net } = config.collect;
  const kinds = { ping: net.ping, tcp: net.tcp, dns: net.dns, http: net.http } as const;
  for (const [kind, targets] of Object.entries(kinds)) {
    const seen = new Map<string, number>();
    targets.forEach((target, index) => {
      const first = seen.get(target.label);
      if (first === undefined) {
        seen.set(target.label, index);
        return;
      }
      problems.push({
        path: `/collect/net/${kind}/${index}`,
        message: `its metric label "${target.label}" is already used by /collect/net/${kind}/${first}; give one a "label"`,
      });
    });
  }
  return problems;
}
