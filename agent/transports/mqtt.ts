import { DEFAULT_MAX_LINE_BYTES, parseSignedLine } from "../../protocol/line.ts";
import { controlTopics, DEFAULT_TOPIC_PREFIX } from "../../protocol/control-message.ts";
import type { Logger } from "../collectors/collector.ts";
import {
  BrokerOptionsError,
  closeBrokerClient,
  describeBrokerError,
  openBrokerClient,
  whenConnected,
} from "../control/broker-client.ts";
import type { MqttClient } from "../control/broker-client.ts";
import { controlClientId } from "../control/settings.ts";
import type { MqttTransportSettings } from "../control/settings.ts";
import type { BackoffPolicy } from "../ship/backoff.ts";
import { isTrustError } from "./network-error.ts";
import { serverTrust, tlsTrustOptions } from "./server-identity.ts";
import type { ServerTrust, ServerTrustOptions } from "./server-identity.ts";
import { TransportOptionsError } from "./transport.ts";
import type { SendOutcome, Transport } from "./transport.ts";

export const DEFAULT_MQTT_TIMEOUT_MS = 30_000;

/** MQTT 5 reason codes the transport acts on. */
const NO_MATCHING_SUBSCRIBERS = 0x10;
const REFUSED_FOR_GOOD = new Set([
  0x87 /* not authorized */, 0x90 /* topic name invalid */, 0x99 /* payload format */,
]);
const PACKET_TOO_LARGE = 0x95;
const BAD_CREDENTIALS = new Set([4, 5, 0x86, 0x87, 0x8a, 0x8c]);

export interface MqttTransportOptions extends ServerTrustOptions {
  /** `mqtt://broker:1883` or `mqtts://broker:8883`. */
  readonly url: string;
  readonly settings: MqttTransportSettings;
  /** Waiting for a connection, and for the broker's PUBACK (default 30 s each). */
  readonly timeoutMs?: number;
  readonly maxLineBytes?: number;
  readonly reconnect?: BackoffPolicy;
  readonly log?: Logger;
}

/**
 * Signed lines as MQTT 5 messages: one batch per message, newline-joined, QoS 1, on
 * `<prefix>/<device>/lines`. A batch is delivered once the broker's PUBACK says someone subscribes
 * to it: the homeward server's subscription, or its session the broker keeps while it is away.
 * A PUBACK saying "no matching subscribers" means the lines would be dropped: it is a retry.
 *
 * The client connects on the first send and stays connected. A batch whose connection drops before
 * its PUBACK is sent again by mqtt.js when it reconnects; if that takes longer than the timeout, the
 * shipper sends the batch again too, and the server drops the duplicate lines.
 */
export class MqttTransport implements Transport {
  readonly target: string;
  readonly host: string;
  readonly topic: string;
  readonly #options: MqttTransportOptions;
  readonly #timeoutMs: number;
  readonly #maxLineBytes: number;
  readonly #trust: ServerTrust;
  readonly #pubackCodes = new Map<number, number>();
  #client: Promise<MqttClient> | undefined;
  #lastError: unknown;

  constructor(options: MqttTransportOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new TransportOptionsError(`server url "${options.url}" is not a URL`);
    }
    if (url.username !== "" || url.password !== "") {
      throw new TransportOptionsError(
        `server url "${url.protocol}//…@${url.host}": put the broker's username and password in the control section, not in the URL`,
      );
    }
    this.#options = options;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_MQTT_TIMEOUT_MS;
    this.#maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    // Read the CA file and check the pins now, so a mistake shows before any send.
    this.#trust = serverTrust({
      ...((options.caFile ?? options.settings.caFile) !== undefined && {
        caFile: options.caFile ?? options.settings.caFile,
      }),
      ...(options.pinSha256 !== undefined && { pinSha256: options.pinSha256 }),
    });
    this.host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    this.topic = controlTopics(
      options.settings.device,
      options.settings.topicPrefix ?? DEFAULT_TOPIC_PREFIX,
    ).lines;
    this.target = `${url.protocol}//${url.host}/${this.topic}`;
  }

  async send(lines: readonly string[]): Promise<SendOutcome> {
    // The server refuses these for their form; a malformed line must not hold up the good ones.
    const rejected: Record<string, number> = {};
    const sendable: string[] = [];
    for (const line of lines) {
      const parsed = parseSignedLine(line, { maxLineBytes: this.#maxLineBytes });
      if (parsed.ok) sendable.push(line);
      else rejected[parsed.reason] = (rejected[parsed.reason] ?? 0) + 1;
    }
    if (sendable.length === 0) return { kind: "delivered", accepted: 0, rejected };

    let client: MqttClient;
    try {
      client = await this.#connected();
    } catch (error) {
      if (error instanceof BrokerOptionsError) return { kind: "fatal", why: error.message };
      throw error;
    }
    if (!(await whenConnected(client, this.#timeoutMs))) {
      const error = this.#lastError;
      const why = `could not reach the broker ${this.host}${error === undefined ? "" : ` (${describeBrokerError(error)})`}`;
      return isTrustError(error) || isCredentialError(error)
        ? { kind: "fatal", why }
        : { kind: "retry", why };
    }
    const outcome = await this.#publish(client, sendable.join("\n"));
    if (outcome !== undefined) return outcome;
    return { kind: "delivered", accepted: sendable.length, rejected };
  }

  async close(): Promise<void> {
    const pending = this.#client;
    this.#client = undefined;
    if (pending === undefined) return;
    const client = await pending.catch(() => undefined);
    if (client) await closeBrokerClient(client);
  }

  /** undefined when the broker took the batch for a subscriber; else what to do instead. */
  #publish(client: MqttClient, payload: string): Promise<SendOutcome | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(
        () =>
          resolve({
            kind: "retry",
            why: `the broker ${this.host} did not acknowledge within ${this.#timeoutMs} ms`,
          }),
        this.#timeoutMs,
      );
      client.publish(this.topic, payload, { qos: 1 }, (error, packet) => {
        clearTimeout(timer);
        const messageId = packet?.messageId;
        const code = messageId === undefined ? undefined : this.#pubackCodes.get(messageId);
        if (messageId !== undefined) this.#pubackCodes.delete(messageId);
        if (error) {
          const reason = (error as { code?: unknown }).code;
          const why = `the broker ${this.host} refused the batch on ${this.topic}: ${error.message}`;
          if (typeof reason === "number" && REFUSED_FOR_GOOD.has(reason)) resolve({ kind: "fatal", why });
          else if (reason === PACKET_TOO_LARGE) resolve({ kind: "too_large", why });
          else resolve({ kind: "retry", why });
          return;
        }
        if (code === NO_MATCHING_SUBSCRIBERS) {
          resolve({
            kind: "retry",
            why: `nobody subscribes to ${this.topic} on ${this.host}: the homeward server is not connected to the broker (and has no session there)`,
          });
          return;
        }
        resolve(undefined);
      });
    });
  }

  #connected(): Promise<MqttClient> {
    this.#client ??= (async () => {
      const { settings } = this.#options;
      const client = await openBrokerClient({
        broker: {
          url: this.#options.url,
          username: settings.username,
          password: settings.password,
          caFile: undefined,
          clientId: settings.clientId ?? `${controlClientId(settings.device)}-lines`,
          keepaliveSeconds: settings.keepaliveSeconds ?? 60,
        },
        role: "transport",
        tls: await tlsTrustOptions(this.#trust),
        connectTimeoutMs: this.#timeoutMs,
        ...(this.#options.reconnect && { reconnect: this.#options.reconnect }),
        ...(this.#options.log && { log: this.#options.log }),
      });
      client.on("error", (error) => (this.#lastError = error));
      client.on("connect", () => (this.#lastError = undefined));
      // The PUBACK's reason code does not reach publish()'s callback; it arrives just before it.
      client.on("packetreceive", (packet) => {
        if (packet.cmd === "puback" && packet.messageId !== undefined) {
          this.#pubackCodes.set(packet.messageId, packet.reasonCode ?? 0);
        }
      });
      client.on("close", () => this.#pubackCodes.clear());
      return client;
    })();
    this.#client.catch(() => (this.#client = undefined));
    return this.#client;
  }
}

function isCredentialError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "number" && BAD_CREDENTIALS.has(code);
}
