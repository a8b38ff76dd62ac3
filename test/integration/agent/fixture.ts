import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateEd25519KeyPair } from "../../../protocol/keys.ts";
import { writeKeyFile } from "../../../protocol/key-file.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import type { AfterHook } from "../../harness/cleanup.ts";
import { spawnSupervised } from "../../harness/process.ts";
import type { SupervisedProcess } from "../../harness/process.ts";

const MAIN = fileURLToPath(new URL("../../../bin/main.ts", import.meta.url));

export interface AgentDevice {
  readonly name: string;
  readonly dir: string;
  readonly keyFile: string;
  readonly stateDir: string;
  readonly configFile: string;
  /** This device's entry for the server's auth file. */
  readonly authEntry: string;
  writeConfig(config: Record<string, unknown>): void;
}

/** A device: its key (0600), state dir and config file, in a temp dir removed after the test. */
export function makeDevice(name: string, options: { rate?: number; burst?: number } = {}): AgentDevice {
  const dir = makeTempDir(`agent-${name}`);
  const keyFile = join(dir, "device.key");
  const pair = generateEd25519KeyPair();
  writeKeyFile(keyFile, {
    keyId: name,
    algorithm: "ed25519",
    secret: pair.secretKey,
    publicKey: pair.publicKey,
  });
  const stateDir = join(dir, "state");
  const configFile = join(dir, "agent.json");
  const authEntry = [
    `  ${name}:`,
    `    ed25519: ${Buffer.from(pair.publicKey).toString("base64")}`,
    `    metrics: ["homeward.${name}.**"]`,
    `    rate: ${options.rate ?? 1000}`,
    `    burst: ${options.burst ?? 5000}`,
    "",
  ].join("\n");
  return {
    name,
    dir,
    keyFile,
    stateDir,
    configFile,
    authEntry,
    writeConfig(config) {
      writeFileSync(
        configFile,
        `${JSON.stringify({ device: name, key_file: keyFile, ...config }, null, 2)}\n`,
      );
    },
  };
}

/** `homeward agent` as its own process, so it can be killed with -9 like a Pi losing power. */
export function spawnAgent(
  device: AgentDevice,
  t?: AfterHook,
  extraArgs: readonly string[] = [],
): SupervisedProcess {
  const proc = spawnSupervised(
    process.execPath,
    [
      "--import",
      "tsx",
      MAIN,
      "agent",
      "--config",
      device.configFile,
      "--state-dir",
      device.stateDir,
      ...extraArgs,
    ],
    { name: `agent-${device.name}` },
  );
  t?.after(() => proc.kill());
  return proc;
}

/** A shell script for the exec collector that prints known readings, stamped with the time it ran. */
export function writeExecScript(dir: string, lines: readonly string[]): string {
  const path = join(dir, "readings.sh");
  writeFileSync(path, `#!/bin/sh\n${lines.map((line) => `echo "${line}"`).join("\n")}\n`, { mode: 0o755 });
  return path;
}
