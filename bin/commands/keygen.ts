import { resolve } from "node:path";
import { generateEd25519KeyPair, generateHmacSecret } from "../../protocol/keys.ts";
import type { Algorithm } from "../../protocol/keys.ts";
import { writeKeyFile } from "../../protocol/key-file.ts";
import type { DeviceKey } from "../../protocol/key-file.ts";
import { isValidKeyId } from "../../protocol/line.ts";
import { ExitCode, optionalString, parseCommandArgs, requireString, UsageError } from "../cli.ts";
import type { Command } from "../cli.ts";

const USAGE = `Usage: homeward keygen --name <key_id> [--out <file>] [--algorithm ed25519|hmac] [--force]

Writes a new device key file (mode 0600) and prints the entry the server's auth file needs.

  --name        the key id: the device name, e.g. grandma-pi ([A-Za-z0-9_.-]{1,64})
  --out         where to write the key file (default ./<name>.key)
  --algorithm   ed25519 (default) or hmac (amproxy's shared secret)
  --force       replace an existing key file`;

export function authEntryFor(key: DeviceKey): string {
  const metrics = `["homeward.${key.keyId}.**"]`;
  if (key.algorithm === "ed25519") {
    return [
      `# Add under apikeys: in the server's auth file.`,
      `  ${key.keyId}:`,
      `    ed25519: ${Buffer.from(key.publicKey ?? []).toString("base64")}`,
      `    metrics: ${metrics}`,
      "",
    ].join("\n");
  }
  return [
    `# Add under apikeys: in the server's auth file. An hmac entry holds the shared secret itself:`,
    `# keep this text as private as the key file.`,
    `  ${key.keyId}:`,
    `    secret_key: ${Buffer.from(key.secret).toString("utf8")}`,
    `    metrics: ${metrics}`,
    "",
  ].join("\n");
}

export const keygenCommand: Command = {
  name: "keygen",
  usage: USAGE,
  async run(argv, io) {
    const { values, help } = parseCommandArgs(argv, {
      name: { type: "string" },
      out: { type: "string" },
      algorithm: { type: "string" },
      force: { type: "boolean" },
    });
    if (help) {
      io.stdout.write(`${USAGE}\n`);
      return ExitCode.Ok;
    }
    const keyId = requireString(values, "name");
    if (!isValidKeyId(keyId)) throw new UsageError("--name must match [A-Za-z0-9_.-]{1,64}");
    const algorithm = (optionalString(values, "algorithm") ?? "ed25519") as Algorithm;
    if (algorithm !== "ed25519" && algorithm !== "hmac") {
      throw new UsageError("--algorithm must be ed25519 or hmac");
    }
    const out = resolve(optionalString(values, "out") ?? `${keyId}.key`);
    let key: DeviceKey;
    if (algorithm === "ed25519") {
      const pair = generateEd25519KeyPair();
      key = { keyId, algorithm, secret: pair.secretKey, publicKey: pair.publicKey };
    } else {
      key = { keyId, algorithm, secret: Buffer.from(generateHmacSecret(), "utf8") };
    }
    writeKeyFile(out, key, { overwrite: values.force === true });
    io.stderr.write(`wrote ${out} (mode 0600)\n`);
    io.stdout.write(authEntryFor(key));
    return ExitCode.Ok;
  },
};
