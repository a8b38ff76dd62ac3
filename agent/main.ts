import { join } from "node:path";
import type { Logger } from "./collectors/collector.ts";
import type { DurableQueue } from "../queue/durable-queue.ts";
import type { QueueFs } from "../queue/queue-fs.ts";
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
import { AgentBuffer } from "./run/agent-buffer.ts";
import type { MoveToDisk } from "./run/agent-buffer.ts";
import { DropCounters } from "./run/drop-counters.ts";
import { FaultLog } from "./run/fault-log.ts";
import { agentTuning } from "./run/tuning.ts";
import type { AgentTuning } from "./run/tuning.ts";
import { CollectorScheduler } from "./schedule/scheduler.ts";
import { Shipper } from "./ship/shipper.ts";
import type { ShipStatus } from "./status/ship-status.ts";
import { StatusFileWriter, statusFilePath } from "./status/status-file.ts";
import { createTransport } from "./transports/index.ts";
import type { Transport } from "./transports/index.ts";

export interface AgentRunOptions {
  readonly loaded: LoadedAgentConfig;
  readonly stateDir: string;
  readonly log: Logger;
  readonly env: NodeJS.ProcessEnv;
  /** The disk buffer's file operations; tests pass one that fails on demand (a read-only card). */
  readonly queueFs?: QueueFs;
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

function shipperFor(
  config: AgentConfig,
  queue: DurableQueue,
  transport: Transport,
  log: Logger,
  tuning: AgentTuning,
): Shipper {
  return new Shipper({
    queue,
    transport,
    device: config.device,
    log,
    ...tuning,
    ...(config.server.linesPerSecond !== undefined && { linesPerSecond: config.server.linesPerSecond }),
  });
}

/** The FaultLog kind of the status file (the disk buffer's is AgentBuffer's BUFFER_FAULT). */
const STATUS_FILE_FAULT = "status_file";

/**
 * Wiring only: collectors → clock guard → sign → disk buffer → shipper → server. Every piece is
 * built from the config; `applyConfig` swaps the parts a new config changes.
 */
export async function startAgent(options: AgentRunOptions): Promise<RunningAgent> {
  const { stateDir, log, env } = options;
  let loaded = options.loaded;
  for (const warning of loaded.warnings) log.warn({ warning }, "config overrides set aside");

  const tuning = agentTuning(env);
  const signer = loadLineSigner(deviceKeyPath(loaded.config.keyFile, env));
  const dropped = new DropCounters();
  const faults = new FaultLog({
    log,
    ...(tuning.faultLogIntervalMs !== undefined && { intervalMs: tuning.faultLogIntervalMs }),
  });
  const buffer = await AgentBuffer.open({
    dir: join(stateDir, BUFFER_DIR),
    maxBytes: loaded.config.buffer.maxBytes,
    ...(options.queueFs !== undefined && { fs: options.queueFs }),
    faults,
    log,
  });

  let transport = transportFor(loaded.config);
  let shipper = shipperFor(loaded.config, buffer.queue, transport, log, tuning);
  let shipperChange: Promise<void> = Promise.resolve();
  /** Shipper swaps (a new transport; the disk buffer taking over from memory) run one at a time. */
  const changeShipper = (change: () => Promise<void>): Promise<void> => {
    const done = shipperChange.then(change);
    shipperChange = done.catch(() => undefined);
    return done;
  };
  let stopping = false;
  const moveToDisk: MoveToDisk = (move) =>
    changeShipper(async () => {
      if (stopping) return;
      await shipper.stop();
      move();
      shipper = shipperFor(loaded.config, buffer.queue, transport, log, tuning);
      shipper.start();
    });

  const guard = new ClockGuard({
    isSynchronized: createSyncCheck(loaded.config.clock.syncCheck, { log, root: loaded.config.clock.root }),
    maxHoldMs: loaded.config.clock.maxHoldMs,
    maxHeldReadings: loaded.config.clock.maxHeldReadings,
    pollIntervalMs: loaded.config.clock.pollMs,
    onDropped: (reason, count) => dropped.add(reason, count),
    onStamped: (batch) => {
      const { points, dropped: readingDrops } = toCarbonPoints(loaded.config.prefix, batch);
      dropped.addAll(readingDrops);
      buffer.check(moveToDisk);
      if (points.length === 0) return;
      buffer.queue.append(points.map((point) => signer.sign(point)));
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
        buffer_unwritten: buffer.droppedUnwritten(),
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

  /** The shipper's view, plus what only the disk queue knows: lines its failing disk cost. */
  const shipStatus = (): ShipStatus => {
    const status = shipper.status();
    const problem = buffer.problem();
    return {
      ...status,
      buffer: {
        ...status.buffer,
        droppedUnwritten: buffer.droppedUnwritten(),
        ...(problem !== undefined && { problem }),
      },
    };
  };
  const statusFile = new StatusFileWriter({
    path: statusFilePath(stateDir),
    snapshot: shipStatus,
    onError: (error) =>
      faults.report(
        STATUS_FILE_FAULT,
        `cannot write the status file: ${error instanceof Error ? error.message : String(error)}`,
      ),
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
    bufferDepth: () => buffer.queue.stats().depth,
    async applyConfig(next) {
      const transportChanged = serverSettings(next.config) !== serverSettings(loaded.config);
      // Everything that can refuse the new config runs before anything changes: a transport setting
      // or schedule that cannot work throws here, and the agent goes on as it was.
      const nextTransport = transportChanged ? transportFor(next.config) : undefined;
      scheduler.replace(scheduledCollectors(next.config, { stats }));
      loaded = next;
      if (nextTransport) {
        await changeShipper(async () => {
          await shipper.stop();
          await transport.close();
          transport = nextTransport;
          shipper = shipperFor(next.config, buffer.queue, transport, log, tuning);
          shipper.start();
        });
        notifier.status(`collecting; shipping to ${transport.target}`);
      }
      log.info({ transport_changed: transportChanged }, "new config applied");
    },
    async stop() {
      notifier.stopping("stopping");
      stopping = true;
      await scheduler.stop();
      guard.stop();
      await shipperChange;
      await shipper.stop();
      await transport.close();
      try {
        await buffer.close();
      } catch (error) {
        // A disk that refuses writes must not keep the agent from stopping: what was only in
        // memory is lost, and said so.
        log.error(
          { err: (error as Error).message, lost: buffer.queue.stats().unflushed },
          "the disk buffer could not be written before stopping; readings only in memory are lost",
        );
      }
      await statusFile.close();
      await notifier.close();
      log.info({ buffered: buffer.queue.stats().depth }, "agent stopped");
    },
  };
}
