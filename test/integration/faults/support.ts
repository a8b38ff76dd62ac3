// What the fault tests share: `homeward server` in this process with JSON logs kept for counting
// (and for the secret scan) and an injectable clock; a device key of their own; and a TCP proxy in
// front of the real carbon-cache that can stall (accept, never read) or reset connections on
// demand, which a real carbon-cache cannot be made to do.
import { spawnSync } from "node:child_process";
import { connect, createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { generateHmacSecret, hmacSigner } from "../../../protocol/keys.ts";
import type { MessageSigner } from "../../../protocol/keys.ts";
import { canonicalMessage } from "../../../protocol/line.ts";
import { resolveServerOptions } from "../../../server-stub/config.ts";
import { createLogger } from "../../../runtime/log/logger.ts";
import { startServer } from "../../../server-stub/main.ts";
import type { RunningServer } from "../../../server-stub/main.ts";
import type { AfterHook } from "../../harness/cleanup.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { LOOPBACK } from "../../harness/free-port.ts";
import { pollUntil } from "../../harness/poll.ts";
import { PersistedLogCapture, registerSecret } from "../../harness/test-logs.ts";
import { sample } from "../server/fixture.ts";

export const FAULT_KEY_ID = "fault-device";

export interface FaultKey {
  readonly keyId: string;
  readonly signer: MessageSigner;
  /** This key's entry, indented to go under `apikeys:`. */
  readonly entry: string;
  /** An auth file with this key alone. */
  readonly authText: string;
}

/** An hmac key for metrics under `fault.`; by default with limits high enough never to get in the way. */
export function makeFaultKey(options: { keyId?: string; rate?: number; burst?: number } = {}): FaultKey {
  const keyId = options.keyId ?? FAULT_KEY_ID;
  const secret = generateHmacSecret();
  registerSecret(`${keyId} hmac secret`, secret);
  const entry =
    `  ${keyId}:\n    secret_key: ${secret}\n    metrics: ["fault.**"]\n` +
    `    rate: ${options.rate ?? 1_000_000}\n    burst: ${options.burst ?? 1_000_000}\n`;
  return { keyId, signer: hmacSigner(secret), entry, authText: `apikeys:\n${entry}` };
}

/** `count` signed lines for `metric`, values first..first+count-1, one second apart from `firstTimestamp`. */
export function faultLines(
  key: FaultKey,
  metric: string,
  count: number,
  firstTimestamp: number,
  firstValue = 0,
): string[] {
  return Array.from({ length: count }, (_, index) => {
    const message = canonicalMessage({
      metric,
      value: String(firstValue + index),
      timestamp: firstTimestamp + index,
      keyId: key.keyId,
    });
    return `${message} ${key.signer.sign(message)}`;
  });
}

export interface LogEntry {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface FaultServer {
  readonly server: RunningServer;
  readonly dir: string;
  readonly authFile: string;
  port(scheme: "tcp" | "tls" | "http" | "https"): number;
  metrics(): Promise<string>;
  sample(name: string, labels?: Record<string, string>): Promise<number>;
  /** Every log line so far, parsed. */
  logs(): LogEntry[];
  /** Log lines whose message matches. */
  logsMatching(message: RegExp): LogEntry[];
  close(): Promise<void>;
}

/**
 * `homeward server` in this process, from flags, with JSON logs captured (and kept for the secret
 * scan). `clock` replaces Date.now for everything the server decides by time: the time window,
 * token buckets, the failure budget, dedupe and the rejection log's budget.
 */
export async function startFaultServer(options: {
  t?: AfterHook;
  carbonAddr: string;
  authText: string;
  flags?: Record<string, string | string[]>;
  clock?: () => number;
  name?: string;
}): Promise<FaultServer> {
  const dir = makeTempDir("fault-server");
  const authFile = join(dir, "auth_file.yaml");
  writeFileSync(authFile, options.authText);
  const flags: Record<string, string | string[]> = {
    "auth-file": authFile,
    "carbon-addr": options.carbonAddr,
    listen: [`tcp://${LOOPBACK}:0`, `http://${LOOPBACK}:0`],
    "metrics-addr": `${LOOPBACK}:0`,
    "state-dir": join(dir, "state"),
    "stats-interval": "0",
    "log-format": "json",
    "log-level": "info",
    "auth-poll": "200ms",
    ...options.flags,
  };
  const capture = new PersistedLogCapture(options.name ?? "fault-server");
  const serverOptions = resolveServerOptions(flags, {});
  const server = await startServer(serverOptions, {
    log: createLogger(serverOptions.logFormat, serverOptions.logLevel, capture),
    ...(options.clock && { clock: options.clock }),
  });
  let closed = false;
  const metrics = async (): Promise<string> => {
    const address = server.metricsAddress;
    if (!address) throw new Error("no metrics listener");
    return (await fetch(`http://${address.host}:${address.port}/metrics`)).text();
  };
  const logs = (): LogEntry[] => capture.lines.map((line) => JSON.parse(line) as LogEntry);
  const handle: FaultServer = {
    server,
    dir,
    authFile,
    port(scheme) {
      const found = server.listeners.find((listener) => listener.scheme === scheme);
      if (!found) throw new Error(`no ${scheme} listener`);
      return found.port;
    },
    metrics,
    sample: async (name, labels = {}) => sample(await metrics(), name, labels),
    logs,
    logsMatching: (message) => logs().filter((entry) => message.test(entry.msg)),
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
    },
  };
  options.t?.after(() => handle.close());
  return handle;
}

/** Polls a /metrics sample until `ok` holds. */
export function waitForMetric(
  server: { sample(name: string, labels?: Record<string, string>): Promise<number> },
  name: string,
  ok: (value: number) => boolean,
  options: { labels?: Record<string, string>; timeoutMs?: number } = {},
): Promise<number> {
  let last = Number.NaN;
  return pollUntil(
    async () => {
      last = await server.sample(name, options.labels ?? {});
      return ok(last) ? last : undefined;
    },
    {
      what: `${name}${JSON.stringify(options.labels ?? {})}`,
      timeoutMs: options.timeoutMs ?? 20_000,
      describe: () => `last value: ${last}`,
    },
  );
}

/** POSTs lines to /v1/lines and returns the status and parsed reply. */
export async function postLines(
  port: number,
  lines: readonly string[],
): Promise<{ status: number; accepted: number; rejected: Record<string, number> }> {
  const response = await fetch(`http://${LOOPBACK}:${port}/v1/lines`, {
    method: "POST",
    body: `${lines.join("\n")}\n`,
  });
  const reply = (await response.json()) as { accepted: number; rejected: Record<string, number> };
  return { status: response.status, accepted: reply.accepted, rejected: reply.rejected };
}

export type ProxyMode = "pass" | "stall" | "reset" | "reset-after-data";

/**
 * A TCP proxy standing where the server expects Carbon. `pass` pipes every connection to the real
 * carbon-cache; `stall` stops reading from every connection (a Carbon that hangs: the server's
 * writes fill the kernel's buffers, then its own); `reset` answers each connection with a TCP RST
 * (socket.resetAndDestroy()); `reset-after-data` reads the first chunk, drops it, then resets (a
 * Carbon that dies after reading). Switching back to `pass` makes stalled connections read again.
 */
export class FaultyCarbon {
  private readonly server: Server;
  private readonly held = new Set<Socket>();
  private readonly piped = new Set<Socket>();
  connections = 0;
  resets = 0;
  port = 0;

  constructor(
    private readonly upstreamPort: number,
    private mode: ProxyMode,
  ) {
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen({ host: LOOPBACK, port: 0 }, resolve));
    const address = this.server.address();
    this.port = typeof address === "object" && address ? address.port : 0;
    return this.port;
  }

  get address(): string {
    return `${LOOPBACK}:${this.port}`;
  }

  setMode(mode: ProxyMode): void {
    this.mode = mode;
    // Piped connections stop reading (stall) or read again (pass) where they are.
    if (mode === "stall") for (const socket of this.piped) socket.pause();
    if (mode === "pass") for (const socket of this.piped) socket.resume();
    if (mode === "pass") for (const socket of this.held) this.pipe(socket);
    if (mode === "reset" || mode === "reset-after-data") {
      for (const socket of [...this.held, ...this.piped]) this.reset(socket);
    }
  }

  async close(): Promise<void> {
    for (const socket of [...this.held, ...this.piped]) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.connections++;
    socket.on("error", () => undefined);
    if (this.mode === "reset") this.reset(socket);
    else if (this.mode === "reset-after-data") {
      // Takes what arrives first (and drops it, as a Carbon that dies after reading), then resets.
      socket.once("data", () => this.reset(socket));
      socket.resume();
    } else if (this.mode === "stall") {
      this.held.add(socket);
      socket.once("close", () => this.held.delete(socket));
    } else this.pipe(socket);
  }

  private reset(socket: Socket): void {
    this.resets++;
    this.held.delete(socket);
    this.piped.delete(socket);
    socket.resetAndDestroy();
  }

  private pipe(socket: Socket): void {
    this.held.delete(socket);
    this.piped.add(socket);
    socket.once("close", () => this.piped.delete(socket));
    const upstream = connect({ host: LOOPBACK, port: this.upstreamPort });
    upstream.on("error", () => socket.destroy());
    socket.on("close", () => upstream.end());
    upstream.on("close", () => socket.destroy());
    socket.pipe(upstream);
    socket.resume();
  }
}

/**
 * A command prefix that runs a process in its own mount namespace, where it may mount a tmpfs (a
 * small one fills up: real ENOSPC; a read-only one: real EROFS) that nothing outside sees and that
 * vanishes with it. Root uses `unshare -m`, others `unshare -rm` (a user namespace); undefined when
 * neither is allowed here (some containers).
 */
export function mountNamespacePrefix(): string[] | undefined {
  const probeDir = makeTempDir("fault-ns-probe");
  const prefix = process.getuid?.() === 0 ? ["unshare", "-m"] : ["unshare", "-rm"];
  const probe = spawnSync(
    prefix[0] as string,
    [...prefix.slice(1), "sh", "-c", `mount -t tmpfs -o size=64k tmpfs "$0"`, probeDir],
    {
      stdio: "ignore",
      timeout: 10_000,
    },
  );
  return probe.status === 0 ? prefix : undefined;
}

/** Wraps a server command line so that `dir` is a fresh tmpfs of `sizeBytes` (read-only if asked) for it alone. */
export function onTmpfs(
  prefix: readonly string[],
  dir: string,
  sizeBytes: number,
  readOnly = false,
): (command: readonly string[]) => { command: string; args: readonly string[] } {
  const mount = `mkdir -p "$0" && mount -t tmpfs -o size=${sizeBytes},mode=0755 tmpfs "$0"${readOnly ? ` && mount -o remount,ro "$0"` : ""}`;
  return (command) => ({
    command: prefix[0] as string,
    args: [...prefix.slice(1), "sh", "-c", `${mount} && exec "$@"`, dir, ...command],
  });
}

/** The mount-namespace prefix, or a failure that says what is missing: these tests never skip. */
export function requireMountNamespace(): string[] {
  const prefix = mountNamespacePrefix();
  if (!prefix) {
    throw new Error(
      "this fault test needs `unshare -m` and `mount -t tmpfs` (util-linux; run as root, as CI does, or allow user namespaces)",
    );
  }
  return prefix;
}
