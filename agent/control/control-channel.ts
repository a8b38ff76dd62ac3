import { join } from "node:path";
import packageJson from "../../package.json" with { type: "json" };
import { controlTopics } from "../../protocol/control-message.ts";
import type { ControlTopics, DeviceStatus } from "../../protocol/control-message.ts";
import type { Logger } from "../collectors/collector.ts";
import { silentLogger } from "../collectors/collector.ts";
import type { LoadedAgentConfig } from "../config/load.ts";
import type { BackoffPolicy } from "../ship/backoff.ts";
import {
  closeBrokerClient,
  openBrokerClient,
  publishAsync,
  subscribeAgain,
  whenConnected,
} from "./broker-client.ts";
import type { MqttClient } from "./broker-client.ts";
import { ControlProcessor } from "./control-processor.ts";
import type { ControlOutcome, ControlStats } from "./control-processor.ts";
import { NonceMemory } from "./nonce-memory.ts";
import { controlSettings } from "./settings.ts";
import type { ControlSettings } from "./settings.ts";

/** The nonce memory's file in the state dir. */
export const NONCE_FILE = "control-nonces.json";
/** The broker keeps the control subscription (and queues messages for it) this long while offline. */
export const CONTROL_SESSION_EXPIRY_SECONDS = 600;

export interface ControlChannelOptions {
  readonly loaded: LoadedAgentConfig;
  /** Applies a new config live; the agent main loop's `applyConfig`. */
  readonly onConfigChanged: (loaded: LoadedAgentConfig) => void | Promise<void>;
  /** Lines waiting in the disk buffer, for the status message (the agent's `bufferDepth`). */
  readonly bufferDepth?: () => number | undefined;
  /** Where the nonce memory is kept (default: the overrides' state dir). */
  readonly stateDir?: string;
  /** Default: from the config (`controlSettings`). */
  readonly settings?: ControlSettings;
  readonly version?: string;
  readonly log?: Logger;
  /** Wall-clock ms (injected for tests). */
  readonly now?: () => number;
  readonly uptimeSeconds?: () => number;
  readonly reconnect?: BackoffPolicy;
}

export interface ControlChannelStats extends ControlStats {
  readonly connected: boolean;
}

/**
 * The agent's end of the control plane: one outbound MQTT connection to the owner's broker that
 * takes signed `update` / `delete` / `read` messages on `<prefix>/<device>/control`, keeps the
 * retained `config` snapshot and `status` (presence, with an `offline` last will) current.
 */
export class ControlChannel {
  readonly topics: ControlTopics;
  readonly #client: MqttClient;
  readonly #processor: ControlProcessor;
  readonly #settings: ControlSettings;
  readonly #options: ControlChannelOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout;
  #queue: Promise<void> = Promise.resolve();
  #stopping: Promise<void> | undefined;

  private constructor(
    client: MqttClient,
    processor: ControlProcessor,
    settings: ControlSettings,
    options: ControlChannelOptions,
  ) {
    this.#client = client;
    this.#processor = processor;
    this.#settings = settings;
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.topics = controlTopics(settings.device, settings.topicPrefix);
    client.on("connect", () => this.#onConnect());
    if (client.connected) this.#onConnect();
    client.on("reconnect", () => this.#refreshWill());
    client.on("message", (topic, payload) => {
      if (topic !== this.topics.control) return;
      this.#queue = this.#queue.then(() => this.#handle(payload));
    });
    this.#timer = setInterval(() => {
      if (this.#client.connected) void this.#publish(this.topics.status, this.#onlineStatus(), true);
    }, settings.statusIntervalMs);
    this.#timer.unref();
  }

  /**
   * Connects (in the background: a box without network at boot still starts) and returns the
   * channel, or undefined when the config has no enabled `control` section.
   */
  static async start(options: ControlChannelOptions): Promise<ControlChannel | undefined> {
    const settings = options.settings ?? controlSettings(options.loaded.config);
    if (settings === undefined) return undefined;
    const log = options.log ?? silentLogger;
    const now = options.now ?? Date.now;
    const stateDir = options.stateDir ?? options.loaded.overridesStore.stateDir;
    const nonces = new NonceMemory({
      windowMs: settings.maxSkewMs,
      file: join(stateDir, NONCE_FILE),
      nowMs: now(),
      onProblem: (problem) => log.warn({ problem }, "control: nonce memory"),
    });
    const processor = new ControlProcessor({
      loaded: options.loaded,
      device: settings.device,
      ownerPublicKeys: settings.ownerPublicKeys,
      maxSkewMs: settings.maxSkewMs,
      nonces,
      onConfigChanged: options.onConfigChanged,
      version: options.version ?? packageJson.version,
      now,
      log,
    });
    const topics = controlTopics(settings.device, settings.topicPrefix);
    const client = await openBrokerClient({
      broker: settings.broker,
      role: "control",
      sessionExpirySeconds: CONTROL_SESSION_EXPIRY_SECONDS,
      will: { topic: topics.status, payload: offlineWill(now()), retain: true },
      ...(options.reconnect && { reconnect: options.reconnect }),
      log,
    });
    return new ControlChannel(client, processor, settings, options);
  }

  get connected(): boolean {
    return this.#client.connected;
  }

  /** Resolves true once connected (false after `timeoutMs`). */
  whenConnected(timeoutMs: number): Promise<boolean> {
    return whenConnected(this.#client, timeoutMs);
  }

  stats(): ControlChannelStats {
    return { ...this.#processor.stats(), connected: this.#client.connected };
  }

  /** The config the channel last applied or was told about. */
  get loaded(): LoadedAgentConfig {
    return this.#processor.loaded;
  }

  /** The config changed by other means (SIGHUP re-read the file): republishes the snapshot. */
  configReloaded(loaded: LoadedAgentConfig): void {
    this.#processor.adopt(loaded);
    void this.#publish(this.topics.config, this.#processor.snapshot(), true);
  }

  /**
   * Publishes `offline` (reason `stopped`) while the connection is still up, then disconnects
   * cleanly, so the broker drops the last will.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      clearInterval(this.#timer);
      await this.#queue;
      if (this.#client.connected) {
        const status: DeviceStatus = { state: "offline", reason: "stopped", ts: this.#seconds() };
        await withTimeout(
          publishAsync(this.#client, this.topics.status, JSON.stringify(status), { qos: 1, retain: true }),
          2_000,
        ).catch(() => undefined);
      }
      await closeBrokerClient(this.#client);
    })();
    return this.#stopping;
  }

  #onConnect(): void {
    subscribeAgain(this.#client, [this.topics.control], 1, (error) =>
      this.#log.error({ topic: this.topics.control, error: error.message }, "control: cannot subscribe"),
    );
    void this.#publish(this.topics.status, this.#onlineStatus(), true);
    void this.#publish(this.topics.config, this.#processor.snapshot(), true);
  }

  /** The will is sent with each CONNECT: make it carry the time of the connection it covers. */
  #refreshWill(): void {
    const will = this.#client.options.will;
    if (will) will.payload = Buffer.from(offlineWill(this.#now()));
  }

  async #handle(payload: Buffer): Promise<void> {
    let outcome: ControlOutcome;
    try {
      outcome = await this.#processor.handle(payload);
    } catch (error) {
      this.#log.error({ error: (error as Error).message }, "control: handling a message failed");
      return;
    }
    // Publishes are not awaited: while the broker is away mqtt.js keeps them for the reconnect, and
    // the next control message must not wait for that. mqtt.js sends them in this order.
    const replyTo = outcome.message?.reply_to;
    if (outcome.kind === "rejected") {
      if (outcome.reply && replyTo !== undefined) void this.#publish(replyTo, outcome.reply, false);
      return;
    }
    if (outcome.changed || (outcome.message.op === "read" && replyTo === undefined)) {
      void this.#publish(this.topics.config, outcome.snapshot, true);
    }
    if (outcome.changed) void this.#publish(this.topics.status, this.#onlineStatus(), true);
    if (replyTo !== undefined) void this.#publish(replyTo, outcome.reply, false);
  }

  #onlineStatus(): DeviceStatus {
    const stats = this.#processor.stats();
    const rejected = Object.fromEntries(Object.entries(stats.rejected).filter(([, count]) => count > 0));
    return {
      state: "online",
      version: this.#options.version ?? packageJson.version,
      uptime_s: Math.floor(this.#options.uptimeSeconds?.() ?? process.uptime()),
      buffer_depth: this.#options.bufferDepth?.() ?? null,
      ts: this.#seconds(),
      control: { applied: stats.applied, rejected },
    };
  }

  async #publish(topic: string, message: unknown, retain: boolean): Promise<void> {
    try {
      await publishAsync(this.#client, topic, JSON.stringify(message), { qos: 1, retain });
    } catch (error) {
      this.#log.warn({ topic, error: (error as Error).message }, "control: publish failed");
    }
  }

  #seconds(): number {
    return Math.floor(this.#now() / 1000);
  }

  /** For the settings in force (tests, logs). */
  get settings(): ControlSettings {
    return this.#settings;
  }
}

function offlineWill(connectedAtMs: number): string {
  const status: DeviceStatus = {
    state: "offline",
    reason: "connection lost",
    connected_at: Math.floor(connectedAtMs / 1000),
  };
  return JSON.stringify(status);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** The main loop's entry point: see ControlChannel.start. */
export const startControlChannel = (options: ControlChannelOptions): Promise<ControlChannel | undefined> =>
  ControlChannel.start(options);
