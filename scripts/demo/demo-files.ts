import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { authEntryFor } from "../../bin/commands/keygen.ts";
import { writeKeyFile } from "../../protocol/key-file.ts";
import type { DeviceKey } from "../../protocol/key-file.ts";
import { generateEd25519KeyPair } from "../../protocol/keys.ts";
import { passwordProblem } from "../../server-stub/status/status-users.ts";

export interface DemoFiles {
  readonly dir: string;
  readonly device: string;
  readonly keyFile: string;
  readonly authFile: string;
  readonly agentConfig: string;
  readonly agentStateDir: string;
  readonly serverStateDir: string;
  readonly statusUser: string;
  readonly statusPassword: string;
}

/** A status page password that meets the server's rule (upper, lower, digit, 8+ characters). */
export function demoPassword(): string {
  for (;;) {
    const candidate = `Demo${randomBytes(12).toString("base64url")}7`;
    if (passwordProblem(candidate) === undefined) return candidate;
  }
}

/**
 * The device's key (0600) and the server's auth file with the device's entry, the same entry
 * `homeward keygen` prints, in `dir`.
 */
export function writeDemoKeys(dir: string, device: string): Pick<DemoFiles, "keyFile" | "authFile"> {
  mkdirSync(dir, { recursive: true });
  const pair = generateEd25519KeyPair();
  const key: DeviceKey = {
    keyId: device,
    algorithm: "ed25519",
    secret: pair.secretKey,
    publicKey: pair.publicKey,
  };
  const keyFile = join(dir, `${device}.key`);
  writeKeyFile(keyFile, key, { overwrite: true });
  const authFile = join(dir, "auth_file.yaml");
  // keygen's entry starts with a comment line and is indented for the apikeys: mapping.
  writeFileSync(authFile, `# The demo's auth file (amproxy format).\napikeys:\n${authEntryFor(key)}`, {
    mode: 0o600,
  });
  return { keyFile, authFile };
}

export interface AgentTargets {
  /** `http://127.0.0.1:<port>`: where the agent ships (the server's HTTP listener). */
  readonly serverUrl: string;
  /** host:port probed with a TCP connect. */
  readonly tcpProbe: string;
  /** A URL probed with a GET (graphite-web when it runs). */
  readonly httpProbe?: string;
}

/**
 * The agent's config on fast schedules. Every probe stays on 127.0.0.1: no gateway ping, no
 * Wi-Fi, no DNS, so the demo behaves the same on a laptop, a Pi and CI.
 */
export function agentConfig(device: string, keyFile: string, targets: AgentTargets): Record<string, unknown> {
  return {
    device,
    key_file: keyFile,
    server: { url: targets.serverUrl },
    clock: { sync_check: "none" },
    collect: {
      system: { schedule: "*/5 * * * * *" },
      pi: { schedule: "*/5 * * * * *" },
      net: {
        schedule: "*/15 * * * * *",
        ping: [{ host: "127.0.0.1", label: "loopback" }],
        tcp: [{ host: "127.0.0.1", port: Number(targets.tcpProbe.split(":")[1]), label: "homeward_server" }],
        ...(targets.httpProbe !== undefined && { http: [{ url: targets.httpProbe, label: "graphite_web" }] }),
        gateway: false,
        wifi: false,
      },
      self: { schedule: "*/5 * * * * *" },
    },
  };
}

export function writeAgentConfig(path: string, config: Record<string, unknown>): void {
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
}
