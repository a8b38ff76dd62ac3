import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { parseDocument } from "yaml";
import { validateAgentConfig } from "../../agent/config/validate.ts";
import { readKeyFile, writeKeyFile } from "../../protocol/key-file.ts";
import type { DeviceKey } from "../../protocol/key-file.ts";
import { generateEd25519KeyPair } from "../../protocol/keys.ts";
import { parseAuthFile } from "../../server-stub/auth/auth-file.ts";
import { systemdFileText } from "../../systemd/files.ts";
import type { SystemdFile } from "../../systemd/files.ts";
import { ExitCode, optionalString, parseCommandArgs, requireString, UsageError } from "../cli.ts";
import type { Command } from "../cli.ts";
import { authEntryFor } from "./keygen.ts";

const USAGE = `Usage: homeward provision --device <name> --server <url> --out <dir> [--auth-file <file>] [--binary <file>]

Makes everything one box needs, in one folder to copy onto its SD card's boot partition:
device.key (0600), agent.json, homeward-agent.service, install.sh and uninstall.sh. Prints the
server's auth-file entry for the new key.

  --device      the device name, e.g. grandma-pi (also its key id and metric prefix)
  --server      the homeward server's URL: https://metrics.example.org (or tcp:// / tls://host:port)
  --out         the folder to write (created if missing). Run again on the same folder, it keeps
                the key and rewrites the other files.
  --auth-file   also add the device's entry to this server auth file (created if missing); an
                entry that is already there with the same key is left alone
  --binary      copy this homeward binary (dist/homeward-linux-arm64) into the folder too

On the box: sudo ./install.sh (see systemd/README.md).`;

/** Where install.sh puts the key; systemd hands the service a copy ($CREDENTIALS_DIRECTORY/device.key). */
export const INSTALLED_KEY_FILE = "/etc/homeward/device.key";
const DEVICE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export interface ProvisionResult {
  readonly key: DeviceKey;
  readonly keyCreated: boolean;
  readonly files: readonly string[];
  readonly authFile?: { readonly path: string; readonly changed: boolean };
}

export function agentConfigFor(device: string, server: string): Record<string, unknown> {
  return { device, key_file: INSTALLED_KEY_FILE, server: { url: server } };
}

/** Writes `contents` to `path` atomically (temp file, fsync, rename), with `mode`. */
function writeFileAtomic(
  path: string,
  contents: string,
  mode: number,
  owner?: { uid: number; gid: number },
): void {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(temp, "wx", mode);
  try {
    writeSync(fd, contents);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    chmodSync(temp, mode);
    if (owner && (process.getuid?.() ?? -1) === 0) chownSync(temp, owner.uid, owner.gid);
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

function publicKeyBase64(key: DeviceKey): string {
  return Buffer.from(key.publicKey ?? []).toString("base64");
}

/** The device key in `out`: the existing one when it is this device's, else a new one (not yet written). */
function deviceKey(out: string, device: string): { key: DeviceKey; created: boolean } {
  const path = join(out, "device.key");
  if (existsSync(path)) {
    const key = readKeyFile(path);
    if (key.keyId !== device || key.algorithm !== "ed25519") {
      throw new Error(
        `${path} belongs to "${key.keyId}" (${key.algorithm}), not to the ed25519 device "${device}"; use another --out folder`,
      );
    }
    return { key, created: false };
  }
  const pair = generateEd25519KeyPair();
  const key: DeviceKey = {
    keyId: device,
    algorithm: "ed25519",
    secret: pair.secretKey,
    publicKey: pair.publicKey,
  };
  return { key, created: true };
}

/** The entry text, indented the way the auth file indents its apikeys. */
function entryText(key: DeviceKey, indent: string): string {
  return authEntryFor(key)
    .split("\n")
    .filter((line) => line.length > 0 && !line.startsWith("#"))
    .map((line) => {
      const depth = (line.length - line.trimStart().length) / 2;
      return `${indent.repeat(depth)}${line.trimStart()}`;
    })
    .join("\n");
}

/**
 * Adds the device's entry to a server auth file, keeping everything else as it is: the text is
 * appended under `apikeys:` when that is the file's last block mapping, or the document is edited
 * through yaml's document model otherwise. The result must parse as the server parses it before it
 * replaces the file (atomically, same mode and owner). An entry already there with this key: no
 * change; with another key: an error (rotation is a hand edit: `ed25519: [new, old]`).
 */
export function addAuthEntry(path: string, key: DeviceKey): boolean {
  const plan = planAuthEntry(path, key);
  plan.write();
  return plan.changed;
}

/** Everything addAuthEntry checks, without writing: provision checks before it writes anything. */
export function planAuthEntry(path: string, key: DeviceKey): { changed: boolean; write: () => void } {
  const publicKey = publicKeyBase64(key);
  let text = "";
  let mode = 0o640;
  let owner: { uid: number; gid: number } | undefined;
  if (existsSync(path)) {
    text = readFileSync(path, "utf8");
    const stat = statSync(path);
    mode = stat.mode & 0o777;
    owner = { uid: stat.uid, gid: stat.gid };
  }
  const isJson = text.trimStart().startsWith("{");
  const document = parseDocument(text.length > 0 ? text : "apikeys: {}\n", { uniqueKeys: true });
  if (document.errors.length > 0) throw new Error(`${path}: not valid YAML; fix it before adding a device`);
  const root: unknown = document.toJS();
  const apikeys = (root as { apikeys?: unknown } | null)?.apikeys;
  if (apikeys !== undefined && apikeys !== null && (typeof apikeys !== "object" || Array.isArray(apikeys))) {
    throw new Error(`${path}: apikeys is not a mapping`);
  }
  const existing = (apikeys as Record<string, unknown> | null | undefined)?.[key.keyId];
  if (existing !== undefined) {
    const listed = (existing as { ed25519?: unknown } | null)?.ed25519;
    const keys = Array.isArray(listed) ? listed : [listed];
    if (keys.includes(publicKey)) return { changed: false, write: () => undefined };
    throw new Error(
      `${path} already has an entry for "${key.keyId}" with another key; edit it by hand (to rotate: ed25519: [new, old])`,
    );
  }

  let updated: string;
  const entry = { ed25519: publicKey, metrics: [`homeward.${key.keyId}.**`] };
  if (isJson) {
    const data = (JSON.parse(text) as Record<string, unknown> | null) ?? {};
    data.apikeys = { ...((data.apikeys as Record<string, unknown> | null) ?? {}), [key.keyId]: entry };
    updated = `${JSON.stringify(data, null, 2)}\n`;
  } else {
    const lines = text.split("\n");
    const header = lines.findIndex((line) => /^apikeys:\s*(#.*)?$/.test(line));
    const laterTopLevel =
      header >= 0 && lines.slice(header + 1).some((line) => /^[^\s#]/.test(line) && !line.startsWith("---"));
    if (header >= 0 && !laterTopLevel) {
      // Append: keeps every byte of the owner's file, comments included.
      const firstEntry = lines.slice(header + 1).find((line) => /^ +[^\s#]/.test(line));
      const indent = firstEntry ? (/^( +)/.exec(firstEntry)?.[1] ?? "  ") : "  ";
      updated = `${text.replace(/\n*$/, "\n")}${entryText(key, indent)}\n`;
    } else {
      document.setIn(["apikeys", key.keyId], document.createNode(entry));
      updated = document.toString();
    }
  }
  parseAuthFile(updated, path);
  const check = parseDocument(updated).toJS() as { apikeys?: Record<string, { ed25519?: unknown }> };
  if (check.apikeys?.[key.keyId]?.ed25519 !== publicKey) {
    throw new Error(`${path}: could not add the entry safely; add it by hand:\n${authEntryFor(key)}`);
  }
  return { changed: true, write: () => writeFileAtomic(path, updated, mode, owner) };
}

export function provision(options: {
  device: string;
  server: string;
  out: string;
  authFile?: string;
  binary?: string;
}): ProvisionResult {
  const { device, server } = options;
  const out = resolve(options.out);
  const config = agentConfigFor(device, server);
  const problems = validateAgentConfig(config);
  if (problems.length > 0) {
    throw new UsageError(problems.map((problem) => `${problem.path || "/"}: ${problem.message}`).join("; "));
  }
  const { key, created } = deviceKey(out, device);
  const authPath = options.authFile ? resolve(options.authFile) : undefined;
  // Checked before anything is written, so a clash leaves no half-made folder behind.
  const authPlan = authPath ? planAuthEntry(authPath, key) : undefined;
  mkdirSync(out, { recursive: true, mode: 0o700 });
  if (created) writeKeyFile(join(out, "device.key"), key);
  const files = ["device.key"];

  writeFileAtomic(join(out, "agent.json"), `${JSON.stringify(config, null, 2)}\n`, 0o644);
  files.push("agent.json");
  const copies: [SystemdFile, number][] = [
    ["homeward-agent.service", 0o644],
    ["install.sh", 0o755],
    ["uninstall.sh", 0o755],
  ];
  for (const [name, mode] of copies) {
    writeFileAtomic(join(out, name), systemdFileText(name), mode);
    files.push(name);
  }
  if (options.binary) {
    const target = join(out, "homeward-linux-arm64");
    copyFileSync(options.binary, target);
    chmodSync(target, 0o755);
    files.push("homeward-linux-arm64");
  }
  authPlan?.write();
  const authFile = authPath && authPlan ? { path: authPath, changed: authPlan.changed } : undefined;
  return { key, keyCreated: created, files, ...(authFile && { authFile }) };
}

export const provisionCommand: Command = {
  name: "provision",
  usage: USAGE,
  async run(argv, io) {
    const { values, help } = parseCommandArgs(argv, {
      device: { type: "string" },
      server: { type: "string" },
      out: { type: "string" },
      "auth-file": { type: "string" },
      binary: { type: "string" },
    });
    if (help) {
      io.stdout.write(`${USAGE}\n`);
      return ExitCode.Ok;
    }
    const device = requireString(values, "device");
    if (!DEVICE_NAME.test(device)) throw new UsageError("--device must match [A-Za-z0-9_-]{1,64}");
    const server = requireString(values, "server");
    const out = requireString(values, "out");
    const binary = optionalString(values, "binary");
    if (binary !== undefined && !existsSync(binary))
      throw new UsageError(`--binary ${binary} does not exist`);
    const authFile = optionalString(values, "auth-file");
    const result = provision({
      device,
      server,
      out,
      ...(authFile !== undefined && { authFile }),
      ...(binary !== undefined && { binary }),
    });
    const folder = resolve(out);
    io.stderr.write(
      `${result.keyCreated ? "made a new key" : "kept the existing key"}; wrote ${result.files.join(", ")} in ${folder}\n`,
    );
    if (result.authFile) {
      io.stderr.write(
        result.authFile.changed
          ? `added ${device} to ${result.authFile.path}\n`
          : `${result.authFile.path} already has ${device} with this key: unchanged\n`,
      );
    }
    if (!result.files.includes("homeward-linux-arm64")) {
      io.stderr.write(
        `next: copy dist/homeward-linux-arm64 into ${folder}, then the folder onto the SD card\n`,
      );
    }
    io.stdout.write(authEntryFor(result.key));
    return ExitCode.Ok;
  },
};
