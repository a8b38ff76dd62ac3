import { availableParallelism, hostname } from "node:os";
import { DurationError, formatDuration, parseDuration } from "../protocol/duration.ts";
import { DEFAULT_MAX_LINE_BYTES } from "../protocol/line.ts";
import { DEFAULT_SKEW_MS } from "./checks/steps.ts";
import type { CarbonAddress } from "./forward/carbon-connection.ts";
import { LOG_FORMATS, LOG_LEVELS } from "../runtime/log/logger.ts";
import type { LogFormat, LogLevel } from "../runtime/log/logger.ts";
import { ListenAddressError, parseHostPort, parseListenAddress } from "./listeners/listen-address.ts";
import type { ListenAddress } from "./listeners/listen-address.ts";
import { metricSegment } from "./metrics/carbon-report.ts";
import type { MqttLinesOptions } from "./listeners/mqtt.ts";
import { parseStatusUsers, StatusUsersError } from "./status/status-users.ts";
import type { StatusUser } from "./status/status-users.ts";

export interface ServerOptions {
  readonly listen: readonly ListenAddress[];
  readonly authFile: string;
  readonly carbon: CarbonAddress;
  readonly skewMs: number;
  readonly maxAgeMs: number;
  readonly logFormat: LogFormat;
  readonly logLevel: LogLevel;
  readonly metricsAddr?: { readonly host: string; readonly port: number };
  /** Where the spool lives; undefined runs without one (lines wait in memory). */
  readonly stateDir?: string;
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile?: string };
  readonly maxLineBytes: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerSource: number;
  readonly idleTimeoutMs: number;
  readonly keyRate: number;
  readonly keyBurst: number;
  readonly sourceRate: number;
  readonly sourceBurst: number;
  readonly maxFailures: number;
  readonly failureWindowMs: number;
  readonly blockMs: number;
  readonly dedupeWindowMs: number;
  readonly dedupeEntries: number;
  readonly verifyWorkers: number;
  readonly maxBodyBytes: number;
  readonly maxInflatedBytes: number;
  readonly carbonConnections: number;
  readonly spoolMaxBytes: number;
  readonly replayRate: number;
  readonly statsIntervalMs: number;
  readonly statsPrefix: string;
  readonly authPollMs: number;
  /** Take devices' lines from the owner's MQTT broker too (`--mqtt-url`). */
  readonly mqtt?: MqttLinesOptions;
  /** The status page (http:// or https://), behind basic auth for `statusUsers`. */
  readonly statusAddr?: ListenAddress;
  readonly statusUsers: readonly StatusUser[];
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

type Kind = "string" | "duration" | "count" | "rate" | "bytes";

interface Flag {
  readonly name: string;
  /** The environment variable, when there is one (amproxy's where amproxy has them). */
  readonly env?: string;
  readonly kind: Kind;
  readonly fallback: string;
  readonly help: string;
  readonly multiple?: boolean;
}

const DEFAULT_WORKERS = (): number => (availableParallelism() > 1 ? availableParallelism() : 0);

/** Every flag of `homeward server`, in --help order. amproxy's come first, unchanged. */
export const SERVER_FLAGS: readonly Flag[] = [
  {
    name: "addr",
    env: "ADDR",
    kind: "string",
    fallback: "127.0.0.1:2005",
    help: "amproxy's plaintext TCP listener (added to --listen when set, or when there is no --listen)",
  },
  {
    name: "auth-file",
    env: "AUTH_FILE",
    kind: "string",
    fallback: "/etc/amproxy/auth_file.yaml",
    help: "the auth file (amproxy YAML, plus ed25519 keys, globs and limits)",
  },
  {
    name: "carbon-addr",
    env: "CARBON_ADDR",
    kind: "string",
    fallback: "127.0.0.1:2003",
    help: "Carbon's plaintext line receiver",
  },
  {
    name: "skew",
    env: "MAX_SKEW",
    kind: "duration",
    fallback: formatDuration(DEFAULT_SKEW_MS),
    help: "how far in the future a timestamp may be (Go duration)",
  },
  { name: "log-format", env: "LOG_FORMAT", kind: "string", fallback: "logfmt", help: "logfmt or json" },
  {
    name: "log-level",
    env: "LOG_LEVEL",
    kind: "string",
    fallback: "info",
    help: "all, err, warn, info or debug",
  },
  {
    name: "max-age",
    env: "MAX_AGE",
    kind: "duration",
    fallback: "7d",
    help: "how old a timestamp may be, unless the key's max_age says otherwise",
  },
  {
    name: "listen",
    env: "LISTEN",
    kind: "string",
    fallback: "",
    multiple: true,
    help: "a listener: tcp://, tls://, http:// or https:// host:port; repeat for several (env: comma-separated)",
  },
  {
    name: "tls-cert",
    env: "TLS_CERT",
    kind: "string",
    fallback: "",
    help: "certificate (PEM) for tls:// and https:// listeners; reloaded when it changes",
  },
  { name: "tls-key", env: "TLS_KEY", kind: "string", fallback: "", help: "private key (PEM) for --tls-cert" },
  {
    name: "tls-client-ca",
    env: "TLS_CLIENT_CA",
    kind: "string",
    fallback: "",
    help: "require client certificates signed by this CA (mTLS)",
  },
  {
    name: "metrics-addr",
    env: "METRICS_ADDR",
    kind: "string",
    fallback: "",
    help: "host:port for GET /metrics and /healthz (off when empty)",
  },
  {
    name: "state-dir",
    env: "STATE_DIR",
    kind: "string",
    fallback: "/var/lib/homeward-server",
    help: "where the Carbon spool lives (empty: no spool, lines wait in memory)",
  },
  {
    name: "max-line-bytes",
    kind: "count",
    fallback: String(DEFAULT_MAX_LINE_BYTES),
    help: "longest line; a longer one closes a stream connection",
  },
  {
    name: "max-connections",
    kind: "count",
    fallback: "10000",
    help: "open connections, all listeners together",
  },
  {
    name: "max-connections-per-source",
    kind: "count",
    fallback: "50",
    help: "open connections from one address",
  },
  {
    name: "idle-timeout",
    kind: "duration",
    fallback: "5m",
    help: "close a connection that sent nothing for this long",
  },
  {
    name: "key-rate",
    kind: "rate",
    fallback: "100",
    help: "lines/s per key, for keys whose entry sets no rate",
  },
  {
    name: "key-burst",
    kind: "count",
    fallback: "20000",
    help: "token bucket size per key, for keys whose entry sets no burst",
  },
  { name: "source-rate", kind: "rate", fallback: "1000", help: "lines/s per source address" },
  { name: "source-burst", kind: "count", fallback: "50000", help: "token bucket size per source address" },
  {
    name: "max-failures",
    kind: "count",
    fallback: "200",
    help: "failed lines a source may send per --failure-window before it is blocked (0: no limit)",
  },
  { name: "failure-window", kind: "duration", fallback: "1m", help: "the window of --max-failures" },
  {
    name: "block-for",
    kind: "duration",
    fallback: "5m",
    help: "how long a source that used up its failure budget is refused",
  },
  {
    name: "dedupe-window",
    kind: "duration",
    fallback: "10m",
    help: "identical lines accepted within this long are dropped as duplicates",
  },
  {
    name: "dedupe-entries",
    kind: "count",
    fallback: "100000",
    help: "most lines remembered for dedupe (0: off)",
  },
  {
    name: "verify-workers",
    kind: "count",
    fallback: "auto",
    help: "worker threads for Ed25519 (auto: one per core when there are 2 or more, else 0)",
  },
  { name: "max-body-bytes", kind: "bytes", fallback: "1MiB", help: "largest HTTP body as sent" },
  { name: "max-inflated-bytes", kind: "bytes", fallback: "8MiB", help: "largest HTTP body after gunzip" },
  { name: "carbon-connections", kind: "count", fallback: "2", help: "persistent connections to Carbon" },
  {
    name: "spool-max-bytes",
    kind: "bytes",
    fallback: "1GiB",
    help: "spool size past which new lines are refused (forward_overflow)",
  },
  {
    name: "replay-rate",
    kind: "rate",
    fallback: "10000",
    help: "lines/s replayed from the spool when Carbon is back",
  },
  {
    name: "stats-interval",
    kind: "duration",
    fallback: "1m",
    help: "how often the server's counters go to Carbon (0: never)",
  },
  {
    name: "stats-prefix",
    kind: "string",
    fallback: "homeward.server.<host>",
    help: "where in Graphite those counters go",
  },
  {
    name: "auth-poll",
    kind: "duration",
    fallback: "1s",
    help: "how often the auth file's mtime and inode are checked, besides the directory watch",
  },
  {
    name: "status-addr",
    env: "STATUS_ADDR",
    kind: "string",
    fallback: "",
    help: "host:port (or https://host:port) for the status page, GET / and /status.json, behind basic auth (off when empty)",
  },
  {
    name: "status-users",
    env: "HOMEWARD_STATUS_AUTH",
    kind: "string",
    fallback: "",
    help: "user:password,... for the status page (prefer the env variable: flags show in ps); 8+ characters with upper case, lower case and a digit",
  },
  {
    name: "mqtt-url",
    env: "MQTT_URL",
    kind: "string",
    fallback: "",
    help: "also take devices' lines from this broker, mqtt:// or mqtts:// (off when empty)",
  },
  { name: "mqtt-username", env: "MQTT_USERNAME", kind: "string", fallback: "", help: "the broker account" },
  {
    name: "mqtt-password",
    env: "MQTT_PASSWORD",
    kind: "string",
    fallback: "",
    help: "its password (better in the environment: flags show in ps)",
  },
  {
    name: "mqtt-ca-file",
    env: "MQTT_CA_FILE",
    kind: "string",
    fallback: "",
    help: "PEM file of the broker's CA for mqtts:// (default: the system's CAs)",
  },
  {
    name: "mqtt-client-id",
    env: "MQTT_CLIENT_ID",
    kind: "string",
    fallback: "homeward-server-<host>",
    help: "stable client id: the broker keeps this session's lines while the server is away",
  },
  {
    name: "mqtt-topic",
    env: "MQTT_TOPIC",
    kind: "string",
    fallback: "$share/homeward/homeward/+/lines",
    help: "the subscription (a shared one lets several servers split the lines)",
  },
];

export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** Flags win over the environment (an empty variable counts as unset), which wins over defaults. */
export function resolveServerOptions(values: FlagValues, env: NodeJS.ProcessEnv): ServerOptions {
  const raw = (name: string): string => {
    const flag = SERVER_FLAGS.find((candidate) => candidate.name === name) as Flag;
    const value = values[name];
    if (typeof value === "string") return value;
    if (flag.env !== undefined && env[flag.env]) return env[flag.env] as string;
    return flag.fallback;
  };
  const given = (name: string): boolean => {
    const flag = SERVER_FLAGS.find((candidate) => candidate.name === name) as Flag;
    return values[name] !== undefined || (flag.env !== undefined && Boolean(env[flag.env]));
  };
  const duration = (name: string): number => {
    try {
      const ms = parseDuration(raw(name));
      if (ms < 0) throw new DurationError("negative");
      return ms;
    } catch (error) {
      if (error instanceof DurationError)
        throw new ConfigError(`--${name} "${raw(name)}": expected a duration such as 5m0s, 30s or 7d`);
      throw error;
    }
  };
  const number = (name: string, kind: "count" | "rate"): number => {
    const value = Number(raw(name));
    const ok = kind === "count" ? Number.isInteger(value) && value >= 0 : Number.isFinite(value) && value > 0;
    if (!ok)
      throw new ConfigError(
        `--${name} "${raw(name)}": expected ${kind === "count" ? "a whole number" : "a positive number"}`,
      );
    return value;
  };
  const bytes = (name: string): number => parseBytes(raw(name), name);
  const hostPort = (name: string): { host: string; port: number } => {
    try {
      return parseHostPort(raw(name), `--${name}`);
    } catch (error) {
      if (error instanceof ListenAddressError) throw new ConfigError(error.message);
      throw error;
    }
  };

  const listenTexts = [
    ...(Array.isArray(values.listen) ? (values.listen as string[]) : []),
    ...(values.listen === undefined && env.LISTEN
      ? env.LISTEN.split(",")
          .map((item) => item.trim())
          .filter(Boolean)
      : []),
  ];
  let listen: ListenAddress[];
  try {
    listen = listenTexts.map(parseListenAddress);
  } catch (error) {
    if (error instanceof ListenAddressError) throw new ConfigError(error.message);
    throw error;
  }
  if (listen.length === 0 || given("addr")) listen.unshift({ scheme: "tcp", ...hostPort("addr") });

  const logFormat = raw("log-format") as LogFormat;
  if (!LOG_FORMATS.includes(logFormat))
    throw new ConfigError(`--log-format must be one of ${LOG_FORMATS.join(", ")}`);
  const logLevel = raw("log-level") as LogLevel;
  if (!LOG_LEVELS.includes(logLevel))
    throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);

  const certFile = raw("tls-cert");
  const keyFile = raw("tls-key");
  const caFile = raw("tls-client-ca");
  const needsTls = listen.some((address) => address.scheme === "tls" || address.scheme === "https");
  if (needsTls && (!certFile || !keyFile))
    throw new ConfigError("tls:// and https:// listeners need --tls-cert and --tls-key");
  if (caFile && !certFile) throw new ConfigError("--tls-client-ca needs --tls-cert and --tls-key");

  const workersText = raw("verify-workers");
  const stateDir = raw("state-dir");
  const metricsAddr = raw("metrics-addr");
  const statsPrefix = raw("stats-prefix").replace("<host>", metricSegment(hostname()));
  const mqtt = mqttOptions(raw);
  const { statusAddr, statusUsers } = statusOptions(
    raw("status-addr"),
    raw("status-users"),
    Boolean(certFile),
  );

  return {
    listen,
    authFile: raw("auth-file"),
    carbon: hostPort("carbon-addr"),
    skewMs: duration("skew"),
    maxAgeMs: duration("max-age"),
    logFormat,
    logLevel,
    ...(metricsAddr && { metricsAddr: hostPort("metrics-addr") }),
    ...(stateDir && { stateDir }),
    ...(certFile && keyFile && { tls: { certFile, keyFile, ...(caFile && { caFile }) } }),
    maxLineBytes: number("max-line-bytes", "count"),
    maxConnections: number("max-connections", "count"),
    maxConnectionsPerSource: number("max-connections-per-source", "count"),
    idleTimeoutMs: duration("idle-timeout"),
    keyRate: number("key-rate", "rate"),
    keyBurst: number("key-burst", "count"),
    sourceRate: number("source-rate", "rate"),
    sourceBurst: number("source-burst", "count"),
    maxFailures: number("max-failures", "count"),
    failureWindowMs: duration("failure-window"),
    blockMs: duration("block-for"),
    dedupeWindowMs: duration("dedupe-window"),
    dedupeEntries: number("dedupe-entries", "count"),
    verifyWorkers: workersText === "auto" ? DEFAULT_WORKERS() : number("verify-workers", "count"),
    maxBodyBytes: bytes("max-body-bytes"),
    maxInflatedBytes: bytes("max-inflated-bytes"),
    carbonConnections: Math.max(1, number("carbon-connections", "count")),
    spoolMaxBytes: bytes("spool-max-bytes"),
    replayRate: number("replay-rate", "rate"),
    statsIntervalMs: duration("stats-interval"),
    statsPrefix,
    authPollMs: Math.max(100, duration("auth-poll")),
    ...(mqtt && { mqtt }),
    ...(statusAddr && { statusAddr }),
    statusUsers,
  };
}

/** The status page is never served without users, and never with a weak password. */
function statusOptions(
  addrText: string,
  usersText: string,
  haveCertificate: boolean,
): { statusAddr?: ListenAddress; statusUsers: readonly StatusUser[] } {
  if (!addrText) return { statusUsers: [] };
  let statusAddr: ListenAddress;
  try {
    statusAddr = addrText.includes("://")
      ? parseListenAddress(addrText)
      : { scheme: "http", ...parseHostPort(addrText, "--status-addr") };
  } catch (error) {
    if (error instanceof ListenAddressError)
      throw new ConfigError(error.message.replace("--listen", "--status-addr"));
    throw error;
  }
  if (statusAddr.scheme !== "http" && statusAddr.scheme !== "https")
    throw new ConfigError(`--status-addr "${addrText}": expected host:port, http:// or https://`);
  if (statusAddr.scheme === "https" && !haveCertificate)
    throw new ConfigError("an https:// --status-addr needs --tls-cert and --tls-key");
  if (!usersText)
    throw new ConfigError(
      'the status page needs users: set HOMEWARD_STATUS_AUTH="user:password" (or --status-users)',
    );
  try {
    return { statusAddr, statusUsers: parseStatusUsers(usersText) };
  } catch (error) {
    if (error instanceof StatusUsersError) throw new ConfigError(error.message);
    throw error;
  }
}

function mqttOptions(raw: (name: string) => string): MqttLinesOptions | undefined {
  const url = raw("mqtt-url");
  if (!url) return undefined;
  if (!/^mqtts?:\/\/[^/@\s]+\/?$/.test(url)) {
    throw new ConfigError(
      `--mqtt-url "${url}": expected mqtt://host[:port] or mqtts://host[:port] (credentials go in --mqtt-username and MQTT_PASSWORD)`,
    );
  }
  const clientId = raw("mqtt-client-id").replace("<host>", metricSegment(hostname()));
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(clientId)) {
    throw new ConfigError(`--mqtt-client-id "${clientId}": expected 1-64 letters, digits, _ . : -`);
  }
  const username = raw("mqtt-username");
  const password = raw("mqtt-password");
  const caFile = raw("mqtt-ca-file");
  return {
    url,
    clientId,
    topic: raw("mqtt-topic"),
    ...(username && { username }),
    ...(password && { password }),
    ...(caFile && { caFile }),
  };
}

const BYTE_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
};

export function parseBytes(text: string, name: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = BYTE_UNITS[(match?.[2] ?? "").toLowerCase()];
  if (!match || unit === undefined)
    throw new ConfigError(`--${name} "${text}": expected a size such as 1048576, 512KiB or 1MiB`);
  return Math.floor(Number(match[1]) * unit);
}

/** The usage text, generated from SERVER_FLAGS so it cannot drift from them. */
export function serverUsage(): string {
  const rows = SERVER_FLAGS.map((flag) => {
    const env = flag.env ? ` [env ${flag.env}]` : "";
    const fallback = flag.fallback ? ` (default ${flag.fallback})` : "";
    return `  --${flag.name.padEnd(27)}${flag.help}${fallback}${env}`;
  });
  return [
    "Usage: homeward server [flags]",
    "",
    "The verifying proxy in front of Carbon: an amproxy drop-in (same flags, env, auth file and wire format).",
    "",
    ...rows,
    "",
    "Signals: SIGHUP reloads the auth file and TLS certificates; SIGTERM/SIGINT flush to Carbon or the spool and exit.",
  ].join("\n");
}
