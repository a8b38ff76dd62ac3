import { writeFileSync, renameSync } from "node:fs";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { DestinationStream } from "pino";
import { ed25519Signer, hmacSigner } from "../../../protocol/keys.ts";
import type { MessageSigner } from "../../../protocol/keys.ts";
import { canonicalMessage } from "../../../protocol/line.ts";
import { resolveServerOptions } from "../../../server-stub/config.ts";
import { createLogger } from "../../../runtime/log/logger.ts";
import { startServer } from "../../../server-stub/main.ts";
import type { RunningServer } from "../../../server-stub/main.ts";
import type { AfterHook } from "../../harness/cleanup.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { persistLog } from "../../harness/test-logs.ts";
import { freePorts, LOOPBACK } from "../../harness/free-port.ts";
import { pollUntil } from "../../harness/poll.ts";
import { spawnSupervised, waitForListening } from "../../harness/process.ts";
import type { SupervisedProcess } from "../../harness/process.ts";
import { loadEd25519Vectors, loadHmacVectors } from "../../support/vectors.ts";

// Tests import these from the fixture; they are the harness's own.
export { LOOPBACK } from "../../harness/free-port.ts";
export { nowSeconds } from "../../harness/whisper.ts";

/** DESIGN.md's auth file: amproxy's two hmac keys and the ed25519 device grandma-pi. */
export const DESIGN_AUTH_FILE = `apikeys:
  my_public_key:
    secret_key: my_secret_key
    metrics: [metric1, metric2]
  my_public_key2:
    secret_key: my_secret_key2
    metrics: [metric3, metric4]
  grandma-pi:
    ed25519: 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=
    metrics: ["homeward.grandma-pi.**"]
    rate: 50
    burst: 2000
    max_age: 7d
`;

/** grandma-pi's key in DESIGN.md is the first ed25519 vector's: its secret is read from the vector file in place. */
export function grandmaSigner(): MessageSigner {
  const vector = loadEd25519Vectors().vectors.find(
    (candidate) => candidate.public_key === "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
  );
  if (!vector) throw new Error("the ed25519 vectors no longer hold DESIGN.md's grandma-pi key");
  return ed25519Signer(Buffer.from(vector.secret_key, "base64"));
}

/** amproxy's my_public_key / my_secret_key, from the hmac vector file. */
export function amproxySigner(): MessageSigner {
  const vector = loadHmacVectors().find((candidate) => candidate.key_id === "my_public_key");
  if (!vector) throw new Error("the hmac vectors no longer hold my_public_key");
  return hmacSigner(vector.secret_key);
}

export function signLine(
  signer: MessageSigner,
  metric: string,
  value: string | number,
  timestamp: number,
  keyId: string,
): string {
  const message = canonicalMessage({ metric, value: String(value), timestamp, keyId });
  return `${message} ${signer.sign(message)}`;
}

/** The same line with its signature's first character changed: valid base64, a forged signature. */
export function tamper(line: string): string {
  return line.replace(
    / (.)(\S+)$/,
    (_all, first: string, rest: string) => ` ${first === "A" ? "B" : "A"}${rest}`,
  );
}

/** Replaces a file the way editors do: write a temp file, rename it over. */
export function replaceFile(path: string, text: string): void {
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, text);
  renameSync(temp, path);
}

/** Log lines kept in memory, so tests can read them (and check that no secret is in them). */
export class LogCapture implements DestinationStream {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
    persistLog("server-fixture", line);
  }
  text(): string {
    return this.lines.join("");
  }
}

export interface TestServer {
  readonly server: RunningServer;
  readonly logs: LogCapture;
  readonly dir: string;
  readonly authFile: string;
  port(scheme: "tcp" | "tls" | "http" | "https"): number;
  metrics(): Promise<string>;
  close(): Promise<void>;
}

/**
 * `homeward server` in this process, from command-line flags (so flag parsing is exercised too),
 * with logs captured. Listeners on port 0 unless flags say otherwise.
 */
export async function startTestServer(options: {
  t?: AfterHook;
  carbonPort: number;
  authText?: string;
  flags?: Record<string, string | string[]>;
}): Promise<TestServer> {
  const dir = makeTempDir("server");
  const authFile = join(dir, "auth_file.yaml");
  writeFileSync(authFile, options.authText ?? DESIGN_AUTH_FILE);
  const flags: Record<string, string | string[]> = {
    "auth-file": authFile,
    "carbon-addr": `${LOOPBACK}:${options.carbonPort}`,
    listen: [`tcp://${LOOPBACK}:0`, `http://${LOOPBACK}:0`],
    "metrics-addr": `${LOOPBACK}:0`,
    "state-dir": "",
    "stats-interval": "0",
    "log-level": "debug",
    "auth-poll": "200ms",
    ...options.flags,
  };
  const logs = new LogCapture();
  const serverOptions = resolveServerOptions(flags, {});
  const server = await startServer(serverOptions, {
    log: createLogger(serverOptions.logFormat, serverOptions.logLevel, logs),
  });
  let closed = false;
  const handle: TestServer = {
    server,
    logs,
    dir,
    authFile,
    port(scheme) {
      const found = server.listeners.find((listener) => listener.scheme === scheme);
      if (!found) throw new Error(`no ${scheme} listener`);
      return found.port;
    },
    async metrics() {
      const address = server.metricsAddress;
      if (!address) throw new Error("no metrics listener");
      const response = await fetch(`http://${address.host}:${address.port}/metrics`);
      return response.text();
    },
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
    },
  };
  options.t?.after(() => handle.close());
  return handle;
}

/** The value of one sample in Prometheus text, 0 when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      found[pair[1] as string] = pair[2] as string;
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return 0;
}

/** A line-protocol client connection, optionally from another loopback address (127.0.0.2, …). */
export function openConnection(port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: LOOPBACK, port, ...(localAddress && { localAddress }) }, () =>
      resolve(socket),
    );
    socket.once("error", reject);
  });
}

export function writeLines(socket: Socket, lines: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.write(lines.map((line) => `${line}\n`).join(""), (error) => (error ? reject(error) : resolve())),
  );
}

/** Sends lines on a fresh connection and closes it. */
export async function sendLines(
  port: number,
  lines: readonly string[],
  localAddress?: string,
): Promise<void> {
  const socket = await openConnection(port, localAddress);
  await writeLines(socket, lines);
  await new Promise<void>((resolve) => {
    socket.once("close", () => resolve());
    socket.end();
    socket.resume();
  });
}

/** Resolves when the socket is closed by the other side (or rejects after `timeoutMs`). */
export function closedByPeer(socket: Socket, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) {
      resolve();
      return;
    }
    const timer = setTimeout(() => reject(new Error("the server did not close the connection")), timeoutMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.on("error", () => undefined);
    socket.resume();
  });
}

export interface ServerProcess {
  readonly proc: SupervisedProcess;
  readonly tcpPort: number;
  readonly httpPort: number;
  readonly metricsPort: number;
  metrics(): Promise<string>;
}

const MAIN = fileURLToPath(new URL("../../../bin/main.ts", import.meta.url));

/** `homeward server` as its own process (node --import tsx bin/main.ts server …), for kill -9. */
export async function spawnServerProcess(options: {
  authFile: string;
  carbonPort: number;
  stateDir: string;
  ports?: [number, number, number];
  flags?: readonly string[];
}): Promise<ServerProcess> {
  const [tcpPort, httpPort, metricsPort] =
    options.ports ?? ((await freePorts(3)) as [number, number, number]);
  const proc = spawnSupervised(
    process.execPath,
    [
      "--import",
      "tsx",
      MAIN,
      "server",
      "--auth-file",
      options.authFile,
      "--carbon-addr",
      `${LOOPBACK}:${options.carbonPort}`,
      "--listen",
      `tcp://${LOOPBACK}:${tcpPort}`,
      "--listen",
      `http://${LOOPBACK}:${httpPort}`,
      "--metrics-addr",
      `${LOOPBACK}:${metricsPort}`,
      "--state-dir",
      options.stateDir,
      "--stats-interval",
      "0",
      ...(options.flags ?? []),
    ],
    { name: "homeward-server", env: { ...process.env, ADDR: "", LISTEN: "" } },
  );
  await waitForListening(proc, [tcpPort, httpPort, metricsPort], 30_000);
  return {
    proc,
    tcpPort,
    httpPort,
    metricsPort,
    async metrics() {
      return (await fetch(`http://${LOOPBACK}:${metricsPort}/metrics`)).text();
    },
  };
}

/** Polls /metrics until `sample(name, labels)` satisfies `ok`. */
export async function waitForSample(
  metrics: () => Promise<string>,
  name: string,
  labels: Record<string, string>,
  ok: (value: number) => boolean,
  timeoutMs = 15_000,
): Promise<number> {
  let last = Number.NaN;
  return pollUntil(
    async () => {
      last = sample(await metrics(), name, labels);
      return ok(last) ? last : undefined;
    },
    { what: `${name}${JSON.stringify(labels)}`, timeoutMs, describe: () => `last value: ${last}` },
  );
}

/** POSTs signed lines to /v1/lines. */
export async function postLines(
  port: number,
  body: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const response = await fetch(`http://${LOOPBACK}:${port}/v1/lines`, { method: "POST", body, headers });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    json: JSON.parse(text) as Record<string, unknown>,
  };
}
