import { readFileSync } from "node:fs";
import { connect as connectTcp } from "node:net";
import type { Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import { DurationError, parseDuration } from "../../protocol/duration.ts";
import { hmacSigner } from "../../protocol/keys.ts";
import type { MessageSigner } from "../../protocol/keys.ts";
import { readKeyFile, signerForKey } from "../../protocol/key-file.ts";
import { canonicalMessage, isValidKeyId, isValidMetric } from "../../protocol/line.ts";
import { parseListenAddress, ListenAddressError } from "../../server-stub/listeners/listen-address.ts";
import type { ListenAddress } from "../../server-stub/listeners/listen-address.ts";
import { ExitCode, optionalString, parseCommandArgs, UsageError } from "../cli.ts";
import type { Command, CommandIo } from "../cli.ts";

const USAGE = `Usage: homeward test-client [--key-file <file>] [--server-addr host:port] [--metric-name name]
                            [--interval 60s] [--count n] [--tls-ca <file>]

Sends "<metric> <random 30..100> <now> <key_id> <signature>" every interval, like amproxy's
client test-client, and prints each line it sends.

  --key-file     a device key file (ed25519 or hmac); without it KEY_PUBLIC is the key id and
                 KEY_PRIVATE the hmac secret, as with amproxy
  --server-addr  host:port, tcp://host:port or tls://host:port [env SERVER_ADDR] (default 127.0.0.1:2005)
  --metric-name  [env METRIC_NAME] (default metric1)
  --interval     a Go duration [env INTERVAL] (default 60s)
  --count        stop after this many lines (default 0: run until interrupted)
  --tls-ca       CA certificate to trust for tls:// (default: the system's)`;

interface ClientOptions {
  readonly keyId: string;
  readonly signer: MessageSigner;
  readonly server: ListenAddress;
  readonly metric: string;
  readonly intervalMs: number;
  readonly count: number;
  readonly ca?: Buffer;
}

function resolveOptions(values: Record<string, unknown>, env: NodeJS.ProcessEnv): ClientOptions {
  const pick = (flag: string, name: string, fallback: string): string =>
    optionalString(values as never, flag) ?? env[name] ?? fallback;
  let keyId: string;
  let signer: MessageSigner;
  const keyFile = optionalString(values as never, "key-file");
  if (keyFile) {
    const key = readKeyFile(keyFile);
    keyId = key.keyId;
    signer = signerForKey(key);
  } else if (env.KEY_PUBLIC && env.KEY_PRIVATE) {
    keyId = env.KEY_PUBLIC;
    signer = hmacSigner(env.KEY_PRIVATE);
  } else {
    throw new UsageError("give --key-file, or KEY_PUBLIC and KEY_PRIVATE (hmac) in the environment");
  }
  if (!isValidKeyId(keyId)) throw new UsageError("the key id must match [A-Za-z0-9_.-]{1,64}");
  const metric = pick("metric-name", "METRIC_NAME", "metric1");
  if (!isValidMetric(metric)) throw new UsageError(`metric name "${metric}" is not a valid Graphite path`);
  let server: ListenAddress;
  try {
    server = parseListenAddress(pick("server-addr", "SERVER_ADDR", "127.0.0.1:2005"));
  } catch (error) {
    if (error instanceof ListenAddressError)
      throw new UsageError(error.message.replace("--listen", "--server-addr"));
    throw error;
  }
  if (server.scheme !== "tcp" && server.scheme !== "tls")
    throw new UsageError("--server-addr must be tcp:// or tls://");
  let intervalMs: number;
  try {
    intervalMs = parseDuration(pick("interval", "INTERVAL", "60s"));
  } catch (error) {
    if (error instanceof DurationError) throw new UsageError(`--interval: ${error.message}`);
    throw error;
  }
  const count = Number(optionalString(values as never, "count") ?? "0");
  if (!Number.isInteger(count) || count < 0) throw new UsageError("--count must be a whole number");
  const caFile = optionalString(values as never, "tls-ca");
  return { keyId, signer, server, metric, intervalMs, count, ...(caFile && { ca: readFileSync(caFile) }) };
}

function open(options: ClientOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const { host, port } = options.server;
    const socket: Socket =
      options.server.scheme === "tls"
        ? connectTls({ host, port, servername: host, ...(options.ca && { ca: options.ca }) }, () =>
            resolve(socket),
          )
        : connectTcp({ host, port }, () => resolve(socket));
    socket.once("error", reject);
  });
}

function write(socket: Socket, text: string): Promise<void> {
  return new Promise((resolve, reject) => socket.write(text, (error) => (error ? reject(error) : resolve())));
}

async function runClient(options: ClientOptions, io: CommandIo, stop: AbortSignal): Promise<void> {
  let socket: Socket | undefined;
  for (let sent = 0; !stop.aborted && (options.count === 0 || sent < options.count);) {
    const value = 30 + Math.floor(Math.random() * 71);
    const message = canonicalMessage({
      metric: options.metric,
      value: String(value),
      timestamp: Math.floor(Date.now() / 1000),
      keyId: options.keyId,
    });
    const line = `${message} ${options.signer.sign(message)}`;
    try {
      socket ??= await open(options);
      await write(socket, `${line}\n`);
      io.stdout.write(`${line}\n`);
      sent++;
    } catch (error) {
      io.stderr.write(`homeward test-client: ${(error as Error).message}; retrying\n`);
      socket?.destroy();
      socket = undefined;
    }
    if (options.count !== 0 && sent >= options.count) break;
    await sleep(options.intervalMs, undefined, { signal: stop }).catch(() => undefined);
  }
  if (socket) await new Promise<void>((resolve) => socket.end(resolve));
}

export const testClientCommand: Command = {
  name: "test-client",
  usage: USAGE,
  async run(argv, io) {
    const { values, help } = parseCommandArgs(argv, {
      "key-file": { type: "string" },
      "server-addr": { type: "string" },
      "metric-name": { type: "string" },
      interval: { type: "string" },
      count: { type: "string" },
      "tls-ca": { type: "string" },
    });
    if (help) {
      io.stdout.write(`${USAGE}\n`);
      return ExitCode.Ok;
    }
    const options = resolveOptions(values, io.env);
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      await runClient(options, io, stop.signal);
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    return ExitCode.Ok;
  },
};
