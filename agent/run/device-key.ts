import { existsSync } from "node:fs";
import { join } from "node:path";
import { readKeyFile, signerForKey } from "../../protocol/key-file.ts";
import type { DeviceKey } from "../../protocol/key-file.ts";
import { canonicalMessage } from "../../protocol/line.ts";
import type { CarbonPoint } from "../../protocol/line.ts";

/** The name systemd's LoadCredential= gives the key (see systemd/homeward-agent.service). */
export const CREDENTIAL_NAME = "device.key";

/**
 * Where the key is read from: systemd's credentials directory when the unit passes the key with
 * LoadCredential= (under DynamicUser the service cannot read the root-only file in /etc), else the
 * config's key_file.
 */
export function deviceKeyPath(configKeyFile: string, env: NodeJS.ProcessEnv): string {
  const credentials = env.CREDENTIALS_DIRECTORY;
  if (credentials) {
    const candidate = join(credentials, CREDENTIAL_NAME);
    if (existsSync(candidate)) return candidate;
  }
  return configKeyFile;
}

export interface LineSigner {
  readonly key: DeviceKey;
  /** The wire line, without its newline. */
  sign(point: CarbonPoint): string;
}

/** Reads the key (refusing a file looser than 0600) and builds its signer once. */
export function loadLineSigner(path: string): LineSigner {
  const key = readKeyFile(path);
  const signer = signerForKey(key);
  return {
    key,
    sign(point) {
      const message = canonicalMessage({ ...point, keyId: key.keyId });
      return `${message} ${signer.sign(message)}`;
    },
  };
}
