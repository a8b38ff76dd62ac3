import { readFileSync } from "node:fs";
import type { IClientOptions, IPublishPacket, ISubscriptionMap, MqttClient } from "mqtt";
import type { Logger } from "pino";
import { isPermanentRejection, RejectReason } from "../../protocol/reasons.ts";
import type { Ingest, IngestResult } from "../ingest/ingest.ts";

/**
 * The server's MQTT input: one subscription (by default the shared `$share/homeward/homeward/+/lines`)
 * on the owner's broker, each message a batch of signed lines from the device its topic names,
 * run through the same checks as every other listener.
 *
 * A QoS 1 message is acknowledged (PUBACK) only once its lines are decided and the accepted ones
 * are written to Carbon or the spool: until then the broker keeps it, and gives it again after a
 * lost connection or a restart of either side (the dedupe step drops lines already taken). Lines
 * refused for a transient reason (rate limits, a full forwarder) hold the message back: the batch is
 * submitted again after the server's retry-after, and acked once nothing transient is left. The
 * session is persistent, so the broker queues lines while the server is away.
 *
 * MQTT acknowledges in order, so a held message holds every message behind it, from every device:
 * a device's auth entry must allow the rate its shipper sends at. A source (`mqtt:<device>`) blocked
 * by the failure budget (a flood of forged or malformed lines) is not held for: its lines are
 * dropped for the block, as a stream connection would be closed, so one broken device cannot stall
 * the others.
 *
 * mqtt is imported when `start()` runs, i.e. only with `--mqtt-url`.
 */
export interface MqttLinesOptions {
  /** `mqtt://broker:1883` or `mqtts://broker:8883`. */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** PEM file of the broker's CA, instead of the system's CAs. */
  readonly caFile?: string;
  /** Stable, so the broker keeps the session (and the lines queued for it) across restarts. */
  readonly clientId: string;
  /** The subscription; a device's name is the level before `lines` in each message's topic. */
  readonly topic: string;
  /** How long the broker keeps the session while the server is away (default 7 days). */
  readonly sessionExpirySeconds?: number;
  readonly keepaliveSeconds?: number;
}

export interface MqttLinesContext {
  readonly ingest: Ingest;
  readonly log: Logger;
}

export interface MqttLinesStats {
  readonly connected: boolean;
  readonly messages: number;
  /** Messages the broker gave again (DUP): their lines were probably taken already. */
  readonly redelivered: number;
  readonly acked: number;
  /** Submissions held back and repeated because of transient rejections. */
  readonly retries: number;
}

export const DEFAULT_MQTT_SESSION_EXPIRY_SECONDS = 7 * 24 * 3600;
const MIN_RETRY_MS = 100;
/** Ingest lists the first 10 refused lines of a submission: a chunk this long is fully described. */
const CHUNK_LINES = 10;
const MAX_RETRY_MS = 5_000;

export class MqttLinesSubscriber {
  readonly #options: MqttLinesOptions;
  readonly #context: MqttLinesContext;
  #client: MqttClient | undefined;
  /** Bumped on every lost connection: work begun on an older one must not ack on a newer one. */
  #generation = 0;
  #closing = false;
  readonly #inFlight = new Set<Promise<unknown>>();
  #messages = 0;
  #redelivered = 0;
  #acked = 0;
  #retries = 0;

  constructor(options: MqttLinesOptions, context: MqttLinesContext) {
    this.#options = options;
    this.#context = context;
  }

  /** Connects in the background (the broker may be down; it is retried every few seconds). */
  async start(): Promise<void> {
    const options = this.#options;
    const { log } = this.#context;
    let ca: Buffer | undefined;
    if (options.caFile !== undefined) ca = readFileSync(options.caFile);
    const expiry = options.sessionExpirySeconds ?? DEFAULT_MQTT_SESSION_EXPIRY_SECONDS;
    const clientOptions: IClientOptions = {
      protocolVersion: 5,
      clientId: options.clientId,
      clean: false,
      properties: { sessionExpiryInterval: expiry },
      keepalive: options.keepaliveSeconds ?? 60,
      reconnectPeriod: 2_000,
      connectTimeout: 30_000,
      ...(options.username !== undefined && { username: options.username }),
      ...(options.password !== undefined && { password: options.password }),
      ...(ca !== undefined && { ca }),
      rejectUnauthorized: true,
      customHandleAcks: (topic, payload, packet: IPublishPacket, done) => {
        const generation = this.#generation;
        const work = this.#take(topic, payload, packet, generation).then((ack) => {
          if (ack && generation === this.#generation) {
            this.#acked++;
            done(0);
          }
        });
        this.#track(work);
      },
    };
    const { connect } = await import("mqtt");
    const client = connect(options.url, clientOptions);
    this.#client = client;
    let lastError: string | undefined;
    client.on("connect", (connack) => {
      lastError = undefined;
      log.info(
        { broker: options.url, client_id: options.clientId, session_present: connack.sessionPresent },
        "mqtt: connected to the broker",
      );
      // Sent on every connect, even when the broker says it kept the session: mosquitto 2.0 does not
      // restore shared subscriptions from its persistence file, and mqtt.js would skip a topic it
      // believes is still subscribed.
      const subscription = { [options.topic]: { qos: 1 }, resubscribe: true } as unknown as ISubscriptionMap;
      client.subscribe(subscription, (error, granted) => {
        const refused = granted?.find((grant) => grant.qos === 128);
        if (error || refused) {
          log.error({ topic: options.topic, error: error?.message ?? "refused" }, "mqtt: cannot subscribe");
        } else {
          log.info({ topic: options.topic }, "mqtt: subscribed");
        }
      });
    });
    // QoS 0 messages bypass customHandleAcks; QoS 1 ones arrive here too, after their ack.
    client.on("message", (topic, payload, packet) => {
      if (packet.qos === 0) this.#track(this.#take(topic, payload, packet, this.#generation));
    });
    client.on("close", () => this.#generation++);
    client.on("offline", () =>
      log.warn({ broker: options.url, error: lastError }, "mqtt: broker connection lost"),
    );
    client.on("error", (error) => {
      if (error.message !== lastError)
        log.warn({ broker: options.url, error: error.message }, "mqtt: broker error");
      lastError = error.message;
    });
  }

  stats(): MqttLinesStats {
    return {
      connected: this.#client?.connected ?? false,
      messages: this.#messages,
      redelivered: this.#redelivered,
      acked: this.#acked,
      retries: this.#retries,
    };
  }

  /**
   * Stops taking messages, lets those being forwarded finish (their acks go out if the connection
   * is still there), then disconnects. Messages not acked stay with the broker for next time.
   */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    const client = this.#client;
    if (client === undefined) return;
    await Promise.race([
      Promise.allSettled([...this.#inFlight]),
      new Promise((resolve) => setTimeout(resolve, graceMs)),
    ]);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.stream?.destroy();
        resolve();
      }, graceMs);
      client.end(!client.connected, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #track(work: Promise<unknown>): void {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }

  /** Runs one message's lines through the checks until nothing transient is left; true: ack it. */
  async #take(topic: string, payload: Buffer, packet: IPublishPacket, generation: number): Promise<boolean> {
    if (this.#closing) return false;
    this.#messages++;
    if (packet.dup) this.#redelivered++;
    const levels = topic.split("/");
    const device =
      levels.length >= 2 && levels[levels.length - 1] === "lines" ? levels[levels.length - 2] : undefined;
    const source = `mqtt:${device ?? topic}`;
    const lines = payload
      .toString("latin1")
      .split("\n")
      .filter((line) => line.length > 0);
    if (lines.length === 0) return true;
    let pending = lines;
    for (;;) {
      let outcome: { retry: string[]; retryAfterMs: number; rejected: Record<string, number> };
      try {
        outcome = await this.#submit(pending, source);
      } catch (error) {
        // Not acked: mqtt.js handles incoming messages one at a time, so drop the connection and
        // let the broker give the message again after the reconnect.
        this.#context.log.error(
          { source, error: (error as Error).message },
          "mqtt: a batch could not be checked",
        );
        this.#client?.stream?.destroy();
        return false;
      }
      if (outcome.retry.length === 0) return true;
      if (this.#closing || generation !== this.#generation) return false;
      this.#retries++;
      const waitMs = Math.min(MAX_RETRY_MS, Math.max(MIN_RETRY_MS, outcome.retryAfterMs));
      this.#context.log.debug(
        { source, rejected: outcome.rejected, waiting: outcome.retry.length, wait_ms: waitMs },
        "mqtt: lines refused for now; holding the message back",
      );
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      if (this.#closing || generation !== this.#generation) return false;
      // Only the lines still undecided: resubmitting taken ones would spend the rate they wait for.
      pending = outcome.retry;
    }
  }

  /**
   * Submits lines in chunks small enough that each result names every refused line, and returns
   * the lines refused for a transient reason, once their chunks are forwarded.
   */
  async #submit(
    lines: readonly string[],
    source: string,
  ): Promise<{ retry: string[]; retryAfterMs: number; rejected: Record<string, number> }> {
    const chunks: string[][] = [];
    for (let index = 0; index < lines.length; index += CHUNK_LINES) {
      chunks.push(lines.slice(index, index + CHUNK_LINES));
    }
    const results = await Promise.all(
      chunks.map(async (chunk) => {
        const result: IngestResult = await this.#context.ingest.submit(chunk, source);
        await result.forwarded;
        return result;
      }),
    );
    const retry: string[] = [];
    const rejected: Record<string, number> = {};
    let retryAfterMs = 0;
    results.forEach((result, index) => {
      const chunk = chunks[index] as string[];
      let refused = 0;
      for (const [reason, count] of result.rejected) {
        rejected[reason] = (rejected[reason] ?? 0) + count;
        refused += count;
      }
      const held = result.errors.filter((error) => isTransient(error.reason));
      if (held.length === 0 && ![...result.rejected.keys()].some(isTransient)) return;
      retryAfterMs = Math.max(retryAfterMs, result.retryAfterMs);
      // Every refused line is listed when the chunk is no longer than the list; if not, the whole
      // chunk waits (lines already taken come back as duplicates).
      if (result.errors.length < refused) retry.push(...chunk);
      else for (const error of held) retry.push(chunk[error.line - 1] as string);
    });
    return { retry, retryAfterMs, rejected };
  }
}

/** Held back: rate limits and a full forwarder. A blocked source's lines are dropped instead. */
function isTransient(reason: RejectReason): boolean {
  return !isPermanentRejection(reason) && reason !== RejectReason.SourceBlocked;
}
