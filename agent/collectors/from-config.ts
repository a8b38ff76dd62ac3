import type { CommandRunner } from "../../hardware/command.ts";
import type { AgentConfig } from "../config/types.ts";
import type { ScheduledCollector } from "../schedule/scheduler.ts";
import { ExecCollector } from "./exec.ts";
import { MqttCollector, mqttInputSettings } from "./mqtt.ts";
import { NetCollector } from "./net.ts";
import { PiCollector } from "./pi.ts";
import { SelfCollector } from "./self.ts";
import type { AgentStatsProvider } from "./self.ts";
import { SystemCollector } from "./system.ts";

export interface CollectorDeps {
  /** Buffer, shipping, clock and scheduler numbers for the `self` collector. */
  readonly stats: AgentStatsProvider;
  /** Injected for tests; the real one spawns processes. */
  readonly run?: CommandRunner;
}

/**
 * One scheduled collector per enabled section, and one per exec entry. Builds new instances every
 * call: hand the result to `CollectorScheduler.replace()` after a config change and every task is
 * re-created with the new settings.
 */
export function scheduledCollectors(config: AgentConfig, deps: CollectorDeps): ScheduledCollector[] {
  const { collect } = config;
  const entries: ScheduledCollector[] = [];
  if (collect.system.enabled) {
    entries.push({
      collector: new SystemCollector({
        root: collect.system.root,
        mounts: collect.system.mounts,
        interfaces: collect.system.interfaces,
      }),
      schedule: collect.system.schedule,
      timeoutMs: collect.system.timeoutMs,
    });
  }
  if (collect.pi.enabled) {
    entries.push({
      collector: new PiCollector({
        root: collect.pi.root,
        throttled: collect.pi.throttled,
        w1: collect.pi.w1,
        w1Names: collect.pi.w1Names,
        run: deps.run,
      }),
      schedule: collect.pi.schedule,
      timeoutMs: collect.pi.timeoutMs,
    });
  }
  if (collect.net.enabled) {
    const net = collect.net;
    entries.push({
      collector: new NetCollector({
        root: net.root,
        ping: net.ping,
        pingCount: net.pingCount,
        tcp: net.tcp,
        dns: net.dns,
        http: net.http,
        gateway: net.gateway,
        wifi: net.wifi,
        timeoutMs: net.probeTimeoutMs,
        concurrency: net.concurrency,
        run: deps.run,
      }),
      schedule: net.schedule,
      timeoutMs: net.timeoutMs,
    });
  }
  for (const entry of collect.exec) {
    entries.push({
      collector: new ExecCollector({
        name: entry.name,
        command: entry.command,
        timeoutMs: entry.timeoutMs,
        maxOutputBytes: entry.maxOutputBytes,
        env: entry.env,
        run: deps.run,
      }),
      schedule: entry.schedule,
      // The command's own timeout kills it; this only backs it up.
      timeoutMs: entry.timeoutMs + 5000,
    });
  }
  const mqtt = mqttInputSettings(config);
  if (mqtt) {
    // Connects on its first run (mqtt is imported then, not before) and stays connected until the
    // scheduler closes it: a config change makes a new one with a new connection.
    entries.push({
      collector: new MqttCollector({ settings: mqtt }),
      schedule: mqtt.schedule,
      timeoutMs: 10_000,
    });
  }
  if (collect.self.enabled) {
    entries.push({
      collector: new SelfCollector({ stats: deps.stats }),
      schedule: collect.self.schedule,
      timeoutMs: collect.self.timeoutMs,
    });
  }
  return entries;
}
