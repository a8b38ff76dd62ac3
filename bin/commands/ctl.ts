import { readFileSync } from "node:fs";
import type { MqttClient } from "mqtt";
import {
  controlTopics,
  CONTROL_MESSAGE_VERSION,
  DEFAULT_TOPIC_PREFIX,
  newNonce,
  signControlMessage,
  statusWildcard,
} from "../../protocol/control-message.ts";
import type {
  ConfigSnapshot,
  ControlMessage,
  ControlOp,
  ControlReply,
  DeviceStatus,
} from "../../protocol/control-message.ts";
import { parseDuration } from "../../protocol/duration.ts";
import { readKeyFile, signerForKey } from "../../protocol/key-file.ts";
import { ExitCode, optionalString, parseCommandArgs, UsageError } from "../cli.ts";
import type { Command, CommandIo, ParsedValues } from "../cli.ts";

const SUBCOMMANDS = ["set", "unset", "get", "devices"] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

const CONNECTION_ROWS: readonly (readonly [string, string, string?])[] = [
  ["--url <mqtt(s)://host:port>", "the owner's broker", "HOMEWARD_MQTT_URL"],
  ["--username <name>", "its account", "HOMEWARD_MQTT_USERNAME"],
  ["--password <password>", "better in the environment", "HOMEWARD_MQTT_PASSWORD"],
  ["--ca-file <pem>", "the broker's CA, for mqtts://", "HOMEWARD_MQTT_CA_FILE"],
  ["--topic-prefix <prefix>", `default ${DEFAULT_TOPIC_PREFIX}`, "HOMEWARD_TOPIC_PREFIX"],
  ["--timeout <duration>", "how long to wait for the device (default 10s)"],
];

const CONNECTION_HELP = [
  "Broker (flags, or the environment):",
  ...CONNECTION_ROWS.map(([flag, help, env]) =>
    `  ${flag.padEnd(29)}${env === undefined ? help : `${help.padEnd(32)}[env ${env}]`}`.trimEnd(),
  ),
].join("\n");

const KEY_HELP = `  --key <file>                 the owner's control key, made by \`homeward keygen --name owner\`
                               [env HOMEWARD_CONTROL_KEY]; devices trust its public key
                               (control.owner_public_key in their config)`;

const USAGES: Readonly<Record<Subcommand | "overview", string>> = {
  overview: `Usage: homeward ctl <set|unset|get|devices> [device] [...] [flags]

Changes a device's config from afar, over the owner's MQTT broker: every message is signed with the
owner's control key, and the device answers with its config after the change.

  homeward ctl set grandma-pi collect.net.ping='["1.1.1.1"]' log.level=debug
  homeward ctl unset grandma-pi collect.net.ping     (no keys: remove every override)
  homeward ctl get grandma-pi
  homeward ctl devices

Run \`homeward ctl <subcommand> --help\` for each one's details.

${CONNECTION_HELP}
${KEY_HELP}

Exit codes: 0 done, 1 refused or no answer, 2 wrong usage.`,
  set: `Usage: homeward ctl set <device> <key>=<value> [<key>=<value> ...] [flags]

Overrides keys of the device's config, live. A key is a dotted path (collect.net.ping); a value is
JSON ('["1.1.1.1"]', 30, true), or else taken as a string (debug). The device checks the result
against its config schema and refuses the whole change if anything is wrong, saying why.

${CONNECTION_HELP}
${KEY_HELP}
  --json                       print the device's answer as JSON`,
  unset: `Usage: homeward ctl unset <device> [<key> ...] [flags]

Removes overrides, so the keys fall back to the device's config file. Without keys, removes every
override.

${CONNECTION_HELP}
${KEY_HELP}
  --json                       print the device's answer as JSON`,
  get: `Usage: homeward ctl get <device> [flags]

Asks the device for its config (the file with the overrides merged in; secrets redacted) and
prints it.

${CONNECTION_HELP}
${KEY_HELP}
  --json                       print the whole snapshot as JSON`,
  devices: `Usage: homeward ctl devices [flags]

Lists every device's presence (its retained status on the broker): online or offline, when it was
last seen, its version, uptime and how many readings wait in its buffer.

${CONNECTION_HELP}
  --json                       print the statuses as JSON`,
};

const OPTIONS = {
  url: { type: "string" },
  username: { type: "string" },
  password: { type: "string" },
  "ca-file": { type: "string" },
  "topic-prefix": { type: "string" },
  timeout: { type: "string" },
  key: { type: "string" },
  json: { type: "boolean" },
} as const;

interface BrokerOptions {
  readonly url: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly caFile: string | undefined;
  readonly prefix: string;
  readonly timeoutMs: number;
}

export const ctlCommand: Command = {
  name: "ctl",
  usage: USAGES.overview,
  async run(argv, io) {
    const [first, ...rest] = argv;
    if (first === undefined || first === "--help" || first === "-h") {
      io.stdout.write(`${USAGES.overview}\n`);
      return first === undefined ? ExitCode.Usage : ExitCode.Ok;
    }
    if (!(SUBCOMMANDS as readonly string[]).includes(first)) {
      throw new UsageError(`unknown subcommand "${first}" (expected ${SUBCOMMANDS.join(", ")})`);
    }
    const subcommand = first as Subcommand;
    const { values, positionals, help } = parseCommandArgs(rest, OPTIONS, true);
    if (help) {
      io.stdout.write(`${USAGES[subcommand]}\n`);
      return ExitCode.Ok;
    }
    try {
      return await runSubcommand(subcommand, values, positionals, io);
    } catch (error) {
      if (error instanceof UsageError) {
        io.stderr.write(`homeward ctl ${subcommand}: ${error.message}\n\n${USAGES[subcommand]}\n`);
        return ExitCode.Usage;
      }
      throw error;
    }
  },
};

async function runSubcommand(
  subcommand: Subcommand,
  values: ParsedValues,
  positionals: readonly string[],
  io: CommandIo,
): Promise<number> {
  const broker = brokerOptions(values, io.env);
  const json = values.json === true;
  if (subcommand === "devices") {
    if (positionals.length > 0) throw new UsageError("devices takes no arguments");
    return listDevices(broker, json, io);
  }
  const [device, ...args] = positionals;
  if (device === undefined) throw new UsageError("which device? e.g. homeward ctl get grandma-pi");
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(device)) throw new UsageError(`"${device}" is not a device name`);
  let op: ControlOp;
  let body: unknown;
  if (subcommand === "set") {
    if (args.length === 0) throw new UsageError("set takes at least one key=value");
    op = "update";
    body = Object.fromEntries(args.map(parseAssignment));
  } else if (subcommand === "unset") {
    op = "delete";
    if (args.length > 0) body = args;
  } else {
    if (args.length > 0) throw new UsageError("get takes only the device");
    op = "read";
  }
  const keyPath = optionalString(values, "key") ?? io.env.HOMEWARD_CONTROL_KEY;
  if (!keyPath) throw new UsageError("missing --key (the owner's control key file), or HOMEWARD_CONTROL_KEY");
  const key = readKeyFile(keyPath);
  if (key.algorithm !== "ed25519") throw new Error(`${keyPath}: the control key must be an ed25519 key`);
  return sendControl(broker, device, op, body, signerForKey(key), json, io);
}

/** `collect.net.ping=["1.1.1.1"]`: the value as JSON, or else as a string. */
export function parseAssignment(text: string): [string, unknown] {
  const equals = text.indexOf("=");
  if (equals <= 0) throw new UsageError(`"${text}": expected key=value`);
  const key = text.slice(0, equals);
  const raw = text.slice(equals + 1);
  try {
    return [key, JSON.parse(raw)];
  } catch {
    return [key, raw];
  }
}

function brokerOptions(values: ParsedValues, env: NodeJS.ProcessEnv): BrokerOptions {
  const url = optionalString(values, "url") ?? env.HOMEWARD_MQTT_URL;
  if (!url) throw new UsageError("missing --url (the owner's broker), or HOMEWARD_MQTT_URL");
  if (!/^mqtts?:\/\/[^/\s]+\/?$/.test(url))
    throw new UsageError(`--url "${url}": expected mqtt://host:port or mqtts://host:port`);
  const timeoutText = optionalString(values, "timeout") ?? "10s";
  let timeoutMs: number;
  try {
    timeoutMs = parseDuration(timeoutText);
  } catch (error) {
    throw new UsageError(`--timeout: ${(error as Error).message}`);
  }
  if (timeoutMs <= 0) throw new UsageError("--timeout must be above 0");
  return {
    url,
    username: optionalString(values, "username") ?? (env.HOMEWARD_MQTT_USERNAME || undefined),
    password: optionalString(values, "password") ?? (env.HOMEWARD_MQTT_PASSWORD || undefined),
    caFile: optionalString(values, "ca-file") ?? (env.HOMEWARD_MQTT_CA_FILE || undefined),
    prefix: optionalString(values, "topic-prefix") ?? (env.HOMEWARD_TOPIC_PREFIX || DEFAULT_TOPIC_PREFIX),
    timeoutMs,
  };
}

async function connectBroker(broker: BrokerOptions): Promise<MqttClient> {
  const { connect } = await import("mqtt");
  const client = connect(broker.url, {
    protocolVersion: 5,
    clientId: `homeward-ctl-${newNonce().slice(0, 12)}`,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: broker.timeoutMs,
    ...(broker.username !== undefined && { username: broker.username }),
    ...(broker.password !== undefined && { password: broker.password }),
    ...(broker.caFile !== undefined && { ca: readFileSync(broker.caFile) }),
    rejectUnauthorized: true,
  });
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error): void => {
      client.off("connect", succeed);
      client.off("error", fail);
      client.off("close", closed);
      client.end(true);
      reject(new Error(`cannot connect to ${broker.url}: ${error.message}`));
    };
    const closed = (): void => fail(new Error("the broker closed the connection"));
    const succeed = (): void => {
      client.off("error", fail);
      client.off("close", closed);
      resolve();
    };
    client.once("connect", succeed);
    client.on("error", fail);
    client.on("close", closed);
  });
  client.on("error", () => undefined);
  return client;
}

async function disconnect(client: MqttClient): Promise<void> {
  await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
}

async function sendControl(
  broker: BrokerOptions,
  device: string,
  op: ControlOp,
  body: unknown,
  signer: ReturnType<typeof signerForKey>,
  json: boolean,
  io: CommandIo,
): Promise<number> {
  const topics = controlTopics(device, broker.prefix);
  const nonce = newNonce();
  const replyTo = topics.replyTo(nonce);
  const message: ControlMessage = {
    v: CONTROL_MESSAGE_VERSION,
    device,
    op,
    ...(body !== undefined && { body }),
    ts: Math.floor(Date.now() / 1000),
    nonce,
    reply_to: replyTo,
  };
  const client = await connectBroker(broker);
  try {
    let status: DeviceStatus | undefined;
    const reply = new Promise<ControlReply | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), broker.timeoutMs);
      client.on("message", (topic, payload) => {
        const parsed = parseJson(payload);
        if (topic === topics.status) status = parsed as DeviceStatus;
        if (topic === replyTo && (parsed as ControlReply | undefined)?.nonce === nonce) {
          clearTimeout(timer);
          resolve(parsed as ControlReply);
        }
      });
    });
    await client.subscribeAsync([replyTo, topics.status], { qos: 1 });
    const pubackCodes = new Map<number, number>();
    client.on("packetreceive", (packet) => {
      if (packet.cmd === "puback" && packet.messageId !== undefined)
        pubackCodes.set(packet.messageId, packet.reasonCode ?? 0);
    });
    const sent = await new Promise<number | undefined>((resolve, reject) =>
      client.publish(topics.control, signControlMessage(message, signer), { qos: 1 }, (error, packet) => {
        if (error) reject(new Error(`the broker refused the message on ${topics.control}: ${error.message}`));
        else resolve(packet?.messageId === undefined ? undefined : pubackCodes.get(packet.messageId));
      }),
    );
    if (sent === 0x10) {
      io.stderr.write(
        `homeward ctl: nobody subscribes to ${topics.control}: ${device} has never connected to this broker, or it has been away longer than its session lasts. Nothing was sent.\n`,
      );
      return ExitCode.Failure;
    }
    const answer = await reply;
    if (answer === undefined) {
      io.stderr.write(`${noAnswer(device, broker.timeoutMs, status)}\n`);
      return ExitCode.Failure;
    }
    if (json)
      io.stdout.write(`${JSON.stringify(op === "read" ? (answer.snapshot ?? answer) : answer, null, 2)}\n`);
    else io.stdout.write(`${describeReply(answer)}\n`);
    return answer.ok ? ExitCode.Ok : ExitCode.Failure;
  } finally {
    await disconnect(client);
  }
}

function noAnswer(device: string, timeoutMs: number, status: DeviceStatus | undefined): string {
  const seen =
    status === undefined
      ? `${device} has no status on this broker (it has never connected?)`
      : status.state === "online"
        ? `${device} says it is online (last seen ${ago(status.ts)})`
        : `${device} is offline (${status.reason}${status.ts !== undefined ? `, ${ago(status.ts)}` : ""})`;
  return [
    `homeward ctl: no answer from ${device} within ${timeoutMs / 1000} s; ${seen}.`,
    "If it is online, its clock may be more than 5 minutes off this one, or it does not trust this owner key",
    "(control.owner_public_key): it refuses such messages without answering, and counts them in its status.",
  ].join("\n");
}

export function describeReply(reply: ControlReply): string {
  const lines: string[] = [];
  const what = reply.op === "update" ? "set" : reply.op === "delete" ? "unset" : "read";
  if (!reply.ok) {
    lines.push(`${reply.device}: refused (${reply.reason ?? "unknown"}); nothing changed`);
    for (const problem of reply.problems ?? []) lines.push(`  ${problem}`);
    return lines.join("\n");
  }
  if (reply.op === "read" && reply.snapshot) return describeSnapshot(reply.snapshot);
  lines.push(`${reply.device}: ${what} applied`);
  if (reply.missing && reply.missing.length > 0)
    lines.push(`  not overridden, nothing to remove: ${reply.missing.join(", ")}`);
  if (reply.apply_error)
    lines.push(`  saved, but applying it live failed (it applies at the next start): ${reply.apply_error}`);
  if (reply.snapshot) lines.push(`  overrides now: ${JSON.stringify(reply.snapshot.overrides)}`);
  return lines.join("\n");
}

function describeSnapshot(snapshot: ConfigSnapshot): string {
  return [
    `# ${snapshot.device}, homeward ${snapshot.version}, as of ${new Date(snapshot.ts * 1000).toISOString()}`,
    `# overrides: ${JSON.stringify(snapshot.overrides)}`,
    ...snapshot.warnings.map((warning) => `# warning: ${warning}`),
    JSON.stringify(snapshot.config, null, 2),
  ].join("\n");
}

async function listDevices(broker: BrokerOptions, json: boolean, io: CommandIo): Promise<number> {
  const client = await connectBroker(broker);
  const statuses = new Map<string, DeviceStatus>();
  try {
    const settled = new Promise<void>((resolve) => {
      // Retained messages come right after the SUBACK; a short quiet spell means they are all in.
      let quiet: NodeJS.Timeout | undefined;
      const deadline = setTimeout(resolve, broker.timeoutMs);
      const settle = (): void => {
        if (quiet) clearTimeout(quiet);
        quiet = setTimeout(() => {
          clearTimeout(deadline);
          resolve();
        }, 500);
      };
      client.on("message", (topic, payload) => {
        const device = topic.split("/").at(-2);
        const status = parseJson(payload) as DeviceStatus | undefined;
        if (device !== undefined && status !== undefined && typeof status === "object" && "state" in status) {
          statuses.set(device, status);
        }
        settle();
      });
      client.subscribe(statusWildcard(broker.prefix), { qos: 1 }, () => settle());
    });
    await settled;
  } finally {
    await disconnect(client);
  }
  const devices = [...statuses].sort(([a], [b]) => a.localeCompare(b));
  if (json) {
    io.stdout.write(`${JSON.stringify(Object.fromEntries(devices), null, 2)}\n`);
    return ExitCode.Ok;
  }
  if (devices.length === 0) {
    io.stdout.write("no device has a status on this broker yet\n");
    return ExitCode.Ok;
  }
  const rows = [["DEVICE", "STATE", "LAST SEEN", "VERSION", "UPTIME", "BUFFERED"]];
  for (const [device, status] of devices) {
    if (status.state === "online") {
      rows.push([
        device,
        "online",
        ago(status.ts),
        status.version,
        formatSeconds(status.uptime_s),
        status.buffer_depth === null ? "-" : String(status.buffer_depth),
      ]);
    } else {
      const seen =
        status.ts !== undefined
          ? ago(status.ts)
          : status.connected_at !== undefined
            ? `connected ${ago(status.connected_at)}, then lost`
            : "-";
      rows.push([device, `offline (${status.reason})`, seen, "-", "-", "-"]);
    }
  }
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? [];
  for (const row of rows) {
    io.stdout.write(
      `${row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join("  ")
        .trimEnd()}\n`,
    );
  }
  return ExitCode.Ok;
}

function ago(seconds: number): string {
  const delta = Math.floor(Date.now() / 1000) - seconds;
  return delta < 0 ? "just now" : `${formatSeconds(delta)} ago`;
}

function formatSeconds(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString("utf8"));
  } catch {
    return undefined;
  }
}
