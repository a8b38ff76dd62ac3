import { readFileSync } from "node:fs";
import type { PeerCertificate } from "node:tls";
import type { IClientOptions, ISubscriptionMap, MqttClient } from "mqtt";
import type { Logger } from "../collectors/collector.ts";
import { silentLogger } from "../collectors/collector.ts";
import { backoffDelay } from "../ship/backoff.ts";
import type { BackoffPolicy } from "../ship/backoff.ts";
import type { BrokerSettings } from "./settings.ts";

export type { MqttClient };

/** Reconnects after a lost connection: full jitter, 1 s doubling to a minute. */
export const BROKER_RECONNECT: BackoffPolicy = { initialMs: 1_000, maxMs: 60_000, maxRetryAfterMs: 60_000 };

export interface BrokerClientOptions {
  readonly broker: BrokerSettings;
  /** For logs: `control`, `transport`, `mqtt input`. */
  readonly role: string;
  /**
   * MQTT 5 session expiry: the broker keeps this client's subscriptions and queues its QoS 1
   * messages this long after a disconnect. 0 (default): a clean session every time.
   */
  readonly sessionExpirySeconds?: number;
  /** The last will, published by the broker when this connection dies without a DISCONNECT. */
  readonly will?: { readonly topic: string; readonly payload: string; readonly retain: boolean };
  readonly reconnect?: BackoffPolicy;
  /** Give up one connection attempt after this long (default 30 s). */
  readonly connectTimeoutMs?: number;
  /** TLS trust beyond `broker.caFile`: a CA already read, and a host check (pins). */
  readonly tls?: {
    readonly ca?: Buffer;
    readonly checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
  };
  readonly log?: Logger;
  readonly random?: () => number;
}

export class BrokerOptionsError extends Error {
  override readonly name = "BrokerOptionsError";
}

/**
 * An MQTT 5 client for one broker, connecting in the background and reconnecting with backoff for
 * as long as it is open. mqtt is imported here, on first use, never at startup: a device without
 * MQTT settings never loads it.
 */
export async function openBrokerClient(options: BrokerClientOptions): Promise<MqttClient> {
  const { broker, role } = options;
  const log = options.log ?? silentLogger;
  const policy = options.reconnect ?? BROKER_RECONNECT;
  const random = options.random ?? Math.random;
  let ca: Buffer | undefined = options.tls?.ca;
  if (ca === undefined && broker.caFile !== undefined) {
    try {
      ca = readFileSync(broker.caFile);
    } catch (error) {
      throw new BrokerOptionsError(
        `${role}: CA file ${broker.caFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      );
    }
  }
  const expiry = options.sessionExpirySeconds ?? 0;
  const clientOptions: IClientOptions = {
    protocolVersion: 5,
    clientId: broker.clientId,
    clean: expiry === 0,
    keepalive: broker.keepaliveSeconds,
    connectTimeout: options.connectTimeoutMs ?? 30_000,
    reconnectPeriod: firstDelay(policy, random),
    ...(expiry > 0 && { properties: { sessionExpiryInterval: expiry } }),
    ...(broker.username !== undefined && { username: broker.username }),
    ...(broker.password !== undefined && { password: broker.password }),
    ...(ca !== undefined && { ca }),
    rejectUnauthorized: true,
    ...(options.tls?.checkServerIdentity && { checkServerIdentity: options.tls.checkServerIdentity }),
    ...(options.will && {
      will: {
        topic: options.will.topic,
        payload: Buffer.from(options.will.payload),
        qos: 1,
        retain: options.will.retain,
      },
    }),
  };
  const { connect } = await import("mqtt");
  const client = connect(broker.url, clientOptions);

  let failures = 0;
  let everConnected = false;
  let lastError: string | undefined;
  // Runs before mqtt.js's own close handler, which arms the reconnect timer with this period.
  client.prependListener("close", () => {
    failures++;
    client.options.reconnectPeriod = Math.max(floorMs(policy), backoffDelay(failures, policy, random));
  });
  client.on("connect", () => {
    if (failures > 0 || !everConnected) {
      log.info({ broker: broker.url, client_id: broker.clientId, role }, `${role}: connected to the broker`);
    }
    failures = 0;
    everConnected = true;
    lastError = undefined;
  });
  client.on("offline", () => {
    log.warn({ broker: broker.url, role, error: lastError }, `${role}: broker connection lost; reconnecting`);
  });
  // mqtt.js emits connection and CONNACK errors here; without a listener they would crash the process.
  client.on("error", (error) => {
    const message = describeBrokerError(error);
    if (message !== lastError)
      log.warn({ broker: broker.url, role, error: message }, `${role}: broker error`);
    lastError = message;
  });
  return client;
}

function floorMs(policy: BackoffPolicy): number {
  return Math.max(1, Math.min(250, policy.initialMs));
}

function firstDelay(policy: BackoffPolicy, random: () => number): number {
  return Math.max(floorMs(policy), backoffDelay(1, policy, random));
}

/** "connect ECONNREFUSED 127.0.0.1:1883", "Connection refused: Bad User Name or Password". */
export function describeBrokerError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && !error.message.includes(code)
    ? `${error.message} (${code})`
    : error.message;
}

/**
 * Subscribes, also to topics mqtt.js believes are still subscribed: call it on every connect. After
 * a broker restart the session may be back without its subscriptions (mosquitto 2.0 does not
 * restore shared ones), and mqtt.js would otherwise skip them.
 */
export function subscribeAgain(
  client: MqttClient,
  topics: readonly string[],
  qos: 0 | 1,
  onError: (error: Error) => void,
): void {
  const map = Object.fromEntries(topics.map((topic) => [topic, { qos }]));
  client.subscribe({ ...map, resubscribe: true } as unknown as ISubscriptionMap, (error) => {
    if (error) onError(error);
  });
}

/** Resolves true once the client is connected, false after `timeoutMs` or when `signal` aborts. */
export function whenConnected(client: MqttClient, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  if (client.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const finish = (connected: boolean): void => {
      clearTimeout(timer);
      client.off("connect", onConnect);
      signal?.removeEventListener("abort", onAbort);
      resolve(connected);
    };
    const onConnect = (): void => finish(true);
    const onAbort = (): void => finish(false);
    const timer = setTimeout(() => finish(client.connected), timeoutMs);
    client.on("connect", onConnect);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Publishes and resolves once the broker has it (PUBACK for QoS 1); rejects on a refusal. */
export function publishAsync(
  client: MqttClient,
  topic: string,
  payload: string,
  options: { readonly qos: 0 | 1; readonly retain?: boolean },
): Promise<void> {
  return new Promise((resolve, reject) => {
    client.publish(topic, payload, { qos: options.qos, retain: options.retain ?? false }, (error) =>
      error ? reject(error) : resolve(),
    );
  });
}

/**
 * Disconnects: cleanly (a DISCONNECT, so the broker discards the last will) when connected with
 * nothing in flight, else by dropping the connection at once. Never takes longer than `timeoutMs`.
 */
export async function closeBrokerClient(client: MqttClient, timeoutMs = 2_000): Promise<void> {
  if (client.disconnecting || client.disconnected) return;
  const force = !client.connected || Object.keys(client.outgoing).length > 0;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      client.stream?.destroy();
      resolve();
    }, timeoutMs);
    client.end(force, {}, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
