import { mkdirSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { join } from "node:path";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { silentLogger } from "../../../agent/collectors/collector.ts";
import type { Logger } from "../../../agent/collectors/collector.ts";
import { generateEd25519KeyPair } from "../../../protocol/keys.ts";
import { writeKeyFile } from "../../../protocol/key-file.ts";
import type { AfterHook } from "../../harness/cleanup.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { LOOPBACK } from "../../harness/free-port.ts";
import { pollUntil } from "../../harness/poll.ts";

/** Reconnect fast in tests: the broker restarts within a second or two. */
export const FAST_RECONNECT = { initialMs: 200, maxMs: 1_000, maxRetryAfterMs: 1_000 } as const;

/** Broker accounts: each device, the owner's `homeward ctl`, the server, and the test's own watcher. */
export const USERS = {
  "grandma-pi": "device-password-1",
  owner: "owner-password-2",
  server: "server-password-3",
  watcher: "watcher-password-4",
} as const;

export interface KeyPairFile {
  readonly path: string;
  readonly publicKey: string;
}

/** An ed25519 key file as `homeward keygen` writes it (mode 0600). */
export function writeEd25519Key(dir: string, name: string): KeyPairFile {
  const pair = generateEd25519KeyPair();
  const path = join(dir, `${name}.key`);
  writeKeyFile(path, {
    keyId: name,
    algorithm: "ed25519",
    secret: pair.secretKey,
    publicKey: pair.publicKey,
  });
  return { path, publicKey: Buffer.from(pair.publicKey).toString("base64") };
}

export interface TestDevice {
  readonly name: string;
  readonly dir: string;
  readonly configPath: string;
  readonly stateDir: string;
  readonly key: KeyPairFile;
  /** This device's entry for the server's auth file. */
  readonly authEntry: string;
  writeConfig(config: Record<string, unknown>): void;
}

export function makeTestDevice(name: string): TestDevice {
  const dir = makeTempDir(`mqtt-${name}`);
  const stateDir = join(dir, "state");
  mkdirSync(stateDir);
  const key = writeEd25519Key(dir, name);
  const configPath = join(dir, "agent.json");
  return {
    name,
    dir,
    configPath,
    stateDir,
    key,
    authEntry: [
      `  ${name}:`,
      `    ed25519: ${key.publicKey}`,
      `    metrics: ["homeward.${name}.**"]`,
      "    rate: 1000",
      "    burst: 5000",
      "",
    ].join("\n"),
    writeConfig(config) {
      writeFileSync(
        configPath,
        `${JSON.stringify({ device: name, key_file: key.path, ...config }, null, 2)}\n`,
      );
    },
  };
}

export interface Received {
  readonly topic: string;
  readonly text: string;
  readonly retained: boolean;
}

/**
 * A test's own MQTT client: subscribes and records every message (retained ones too), so a test can
 * wait for what a device publishes. Reconnects on its own across broker restarts.
 */
export class TopicWatcher {
  readonly received: Received[] = [];

  private constructor(readonly client: MqttClient) {
    client.on("message", (topic, payload, packet) =>
      this.received.push({ topic, text: payload.toString("utf8"), retained: packet.retain }),
    );
  }

  static async open(
    url: string,
    topics: string[],
    options: { username?: string; password?: string; ca?: string; t?: AfterHook } = {},
  ): Promise<TopicWatcher> {
    const client = mqtt.connect(url, {
      protocolVersion: 5,
      clientId: `watcher-${Math.random().toString(36).slice(2, 10)}`,
      reconnectPeriod: 200,
      ...(options.username !== undefined && { username: options.username }),
      ...(options.password !== undefined && { password: options.password }),
      ...(options.ca !== undefined && { ca: options.ca }),
    });
    client.on("error", () => undefined);
    const watcher = new TopicWatcher(client);
    options.t?.after(() => watcher.close());
    await new Promise<void>((resolve) => client.once("connect", () => resolve()));
    if (topics.length > 0) await client.subscribeAsync(topics, { qos: 1 });
    return watcher;
  }

  /** The JSON of every message on `topic` so far, oldest first. */
  messages<T = Record<string, unknown>>(topic: string): T[] {
    return this.received
      .filter((message) => message.topic === topic)
      .map((message) => JSON.parse(message.text) as T);
  }

  /** Waits for a message on `topic` (from index `from` on) that satisfies `test`, and returns it. */
  async waitFor<T = Record<string, unknown>>(
    topic: string,
    test: (message: T) => boolean,
    options: { from?: number; timeoutMs?: number; what?: string } = {},
  ): Promise<T> {
    return pollUntil(
      () =>
        this.messages<T>(topic)
          .slice(options.from ?? 0)
          .find(test),
      {
        what: options.what ?? `a matching message on ${topic}`,
        timeoutMs: options.timeoutMs ?? 10_000,
        describe: () =>
          `received on ${topic}:\n${this.messages(topic)
            .map((m) => JSON.stringify(m))
            .join("\n")}`,
      },
    );
  }

  count(topic: string): number {
    return this.messages(topic).length;
  }

  async publish(
    topic: string,
    payload: string | Buffer,
    options: { qos?: 0 | 1; retain?: boolean } = {},
  ): Promise<void> {
    await this.client.publishAsync(topic, payload, {
      qos: options.qos ?? 1,
      retain: options.retain ?? false,
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/**
 * A TCP relay between a client and the broker, to cut connections the way a flaky uplink does: the
 * broker sees the socket die without a DISCONNECT, so it publishes the client's last will.
 */
export class TcpRelay {
  readonly #sockets = new Set<Socket>();
  readonly #server: Server;
  #blocked = false;
  #port = 0;

  private constructor(targetPort: number) {
    this.#server = createServer((inbound) => this.#relay(inbound, targetPort));
  }

  static async start(targetPort: number, t?: AfterHook): Promise<TcpRelay> {
    const relay = new TcpRelay(targetPort);
    await new Promise<void>((resolve) => relay.#server.listen(0, LOOPBACK, resolve));
    const address = relay.#server.address();
    if (address === null || typeof address === "string") throw new Error("relay: no port");
    relay.#port = address.port;
    t?.after(() => relay.close());
    return relay;
  }

  get port(): number {
    return this.#port;
  }

  /** Drops every relayed connection at once (both sides), like a NAT entry vanishing. */
  sever(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  /** New connections are refused until unblock(). */
  block(): void {
    this.#blocked = true;
  }

  unblock(): void {
    this.#blocked = false;
  }

  async close(): Promise<void> {
    this.sever();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #relay(inbound: Socket, targetPort: number): void {
    if (this.#blocked) {
      inbound.destroy();
      return;
    }
    const outbound = connect(targetPort, LOOPBACK);
    for (const socket of [inbound, outbound]) {
      this.#sockets.add(socket);
      socket.on("error", () => undefined);
      socket.once("close", () => {
        this.#sockets.delete(socket);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  }
}

/** A Logger that keeps what is logged, for tests that look at what the control channel said. */
export class RecordingLogger implements Logger {
  readonly entries: { level: string; fields: object; message: string | undefined }[] = [];
  debug(fields: object, message?: string): void {
    this.entries.push({ level: "debug", fields, message });
  }
  info(fields: object, message?: string): void {
    this.entries.push({ level: "info", fields, message });
  }
  warn(fields: object, message?: string): void {
    this.entries.push({ level: "warn", fields, message });
  }
  error(fields: object, message?: string): void {
    this.entries.push({ level: "error", fields, message });
  }
}

export { silentLogger };
