import { join } from "node:path";
import type { Logger as PinoLogger } from "pino";
import { DiskQueue } from "../queue/disk-queue.ts";
import { ClockGuard } from "./clock/clock-guard.ts";
import { createSyncCheck } from "./clock/sync-check.ts";
import { mqttTransportSettings } from "./control/settings.ts";
import { scheduledCollectors } from "./collectors/from-config.ts";
import { toCarbonPoints } from "./collectors/points.ts";
import type { AgentStatsSnapshot } from "./collectors/self.ts";
import type { LoadedAgentConfig } from "./config/load.ts";
import type { AgentConfig } from "./config/types.ts";
import { createNotifier } from "../runtime/notify/sd-notify.ts";
import type { Notifier } from "../runtime/notify/sd-notify.ts";
import { deviceKeyPath, loadLineSigner } from "./run/device-key.ts";
import { DropCounters } from "./run/drop-counters.ts";
import { CollectorScheduler } from "./schedule/scheduler.ts";
import { Shipper } from "./ship/shipper.ts";
import { StatusFileWriter, statusFilePath } from "./status/status-file.ts";
import { createTransport } from "./transports/index.ts";
import type { Transport } from "./transports/index.ts";

export interface AgentRunOptions {
  readonly loaded: LoadedAgentConfig;
  readonly stateDir: string;
  readonly log: PinoLogger;
  readonly env: NodeJS.ProcessEnv;
}

export interface RunningAgent {
  readonly config: () => AgentConfig;
  /** Applies a new config live: schedules, targets and transport settings; no restart. */
  applyConfig(loaded: LoadedAgentConfig): Promise<void>;
  /** Depth of the disk buffer, for presence messages. */
  bufferDepth(): number;
  /** Stops collecting, settles the batch in flight, flushes the buffer. */
  stop(): Promise<void>;
}

/** The buffer's subfolder in the state dir. */
export const BUFFER_DIR = "buffer";

export function transportFor(config: AgentConfig): Transport {
  return createTransport({
    url: config.server.url,
    caFile: config.server.caFile,
    pinSha256: config.server.pinSha256,
    timeoutMs: config.server.timeoutMs,
    mqtt: mqttTransportSettings(config),
  });
}

function shipperFor(config: AgentConfig, queue: DiskQueue, transport: Transport, log: PinoLogger): Shipper {
  return new Shipper({
    queue,
    transport,
    device: config.device,
    log,
    ...(config.server.linesPerSecond !== undefined && { linesPerSecond: config.server.linesPerSecond }),
  });
}

/**
 * Wiring only: collectors → clock guard → sign → disk buffer → shipper → server. Every piece is
 * built from the config; `applyConfig` swaps the parts a new config changes.
 */
export async function startAgent(options: AgentRunOptions): Promise<RunningAgent> {
  const { stateDir, log, env } = options;
  let loaded = options.loaded;
  for (const warning of loaded.warnings) log.warn({ warning }, "config overrides set aside");

  const signer = loadLineSigner(deviceKeyPath(loaded.config.keyFile, env));
  const dropped = new DropCounters();
  const queue = await DiskQueue.open({
    dir: join(stateDir, BUFFER_DIR),
    maxBytes: loaded.config.buffer.maxBytes,
    // SD-card friendly: the cursor is fdatasynced at most every 2 s, not per shipped batch. A crash
    // resends up to 2 s of acked lines, which the server drops as duplicates.
    ackPersistIntervalMs: 2000,
    onProblem: (problem) => log.warn({ problem }, "disk buffer problem"),
  });

  let transport = transportFor(loaded.config);
  let shipper = shipperFor(loaded.config, queue, transport, log);

  const guard = new ClockGuard({
    isSynchronized: createSyncCheck(loaded.config.clock.syncCheck, { log, root: loaded.config.clock.root }),
    maxHoldMs: loaded.config.clock.maxHoldMs,
    maxHeldReadings: loaded.config.clock.maxHeldReadings,
    pollIntervalMs: loaded.config.clock.pollMs,
    onDropped: (reason, count) => dropped.add(reason, count),
    onStamped: (batch) => {
      const { points, dropped: readingDrops } = toCarbonPoints(loaded.config.prefix, batch);
      dropped.addAll(readingDrops);
      if (points.length === 0) return;
      queue.append(points.map((point) => signer.sign(point)));
      shipper.wake();
    },
    log,
  });

  const stats = (): AgentStatsSnapshot => {
    const status = shipper.status();
    return {
      buffer: {
        depth: status.buffer.depth,
        bytes: status.buffer.bytes,
        ...(status.oldestReadingAt !== null && {
          oldestAgeSeconds: Math.max(0, Date.now() / 1000 - status.oldestReadingAt),
        }),
      },
      dropped: {
        ...dropped.snapshot(),
        ...status.droppedByReason,
        buffer_overflow: status.buffer.droppedOverflow,
        buffer_corrupt: status.buffer.droppedCorrupt,
      },
      ...(status.lastShipAt !== null && { lastShipWallMs: status.lastShipAt }),
      shipErrors: status.shipErrors,
      clock: guard.stats(),
      scheduler: scheduler.stats(),
    };
  };

  const scheduler = new CollectorScheduler({ onBatch: (batch) => guard.accept(batch), log });
  scheduler.replace(scheduledCollectors(loaded.config, { stats }));
  guard.start();
  shipper.start();

  const statusFile = new StatusFileWriter({
    path: statusFilePath(stateDir),
    snapshot: () => shipper.status(),
    onError: (error) => log.warn({ err: error }, "cannot write the status file"),
  });
  statusFile.start();

  const notifier: Notifier = createNotifier(env, {
    unsetEnvironment: true,
    onError: (error) => log.warn({ err: error }, "systemd notification failed"),
  });
  notifier.ready(`collecting; shipping to ${transport.target}`);
  notifier.watchdogStart();
  log.info(
    { device: loaded.config.device, target: transport.target, key_id: signer.key.keyId },
    "agent started",
  );

  const serverSettings = (config: AgentConfig): string => JSON.stringify(config.server);

  return {
    config: () => loaded.config,
    bufferDepth: () => queue.stats().depth,
    async applyConfig(next) {
      const transportChanged = serverSettings(next.config) !== serverSettings(loaded.config);
      // Everything that can refuse the new config runs before anything changes: a transport setting
      // or schedule that cannot work throws here, and the agent goes on as it was.
      const nextTransport = transportChanged ? transportFor(next.config) : undefined;
      scheduler.replace(scheduledCollectors(next.config, { stats }));
      loaded = next;
      if (nextTransport) {
        await shipper.stop();
        await transport.close();
        transport = nextTransport;
        shipper = shipperFor(next.config, queue, transport, log);
        shipper.start();
        notifier.status(`collecting; shipping to ${transport.target}`);
      }
      log.info({ transport_changed: transportChanged }, "new config applied");
    },
    async stop() {
      notifier.stopping("stopping");
      await scheduler.stop();
      guard.stop();
      await shipper.stop();
      await transport.close();
      await queue.close();
      await statusFile.close();
      await notifier.close();
      log.info({ buffered: queue.stats().depth }, "agent stopped");
    },
  };
}
