import { closeSync, fchmodSync, fstatSync, openSync, readFileSync, writeSync } from "node:fs";
import { ALGORITHMS, ed25519PublicKeyOf, ed25519Signer, hmacSigner, KeyMaterialError } from "./keys.ts";
import type { Algorithm, MessageSigner } from "./keys.ts";
import { isValidKeyId } from "./line.ts";

/**
 * A device's key file, JSON, mode 0600:
 *   {"key_id": "grandma-pi", "algorithm": "ed25519", "secret_key": "<base64 NaCl 64 bytes>", "public_key": "<base64>"}
 *   {"key_id": "my_public_key", "algorithm": "hmac", "secret_key": "my_secret_key"}
 */
export interface DeviceKey {
  readonly keyId: string;
  readonly algorithm: Algorithm;
  /** ed25519: NaCl 64-byte secret key. hmac: the shared secret's UTF-8 bytes. */
  readonly secret: Uint8Array;
  /** ed25519 only. */
  readonly publicKey?: Uint8Array;
}

export class KeyFileError extends Error {
  override readonly name = "KeyFileError";
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(`key file ${path}: ${problem}`);
  }
}

const GROUP_OR_OTHER_BITS = 0o077;

/** Reads a key file, refusing one that group or others can read or write, as ssh does. */
export function readKeyFile(path: string): DeviceKey {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    throw new KeyFileError(path, `cannot be opened (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  let text: string;
  try {
    const mode = fstatSync(fd).mode & 0o777;
    if ((mode & GROUP_OR_OTHER_BITS) !== 0) {
      throw new KeyFileError(
        path,
        `permissions 0${mode.toString(8)} are too open; a private key must be readable by its owner only. Fix it with: chmod 600 ${path}`,
      );
    }
    text = readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
  return parseKeyFile(path, text);
}

function parseKeyFile(path: string, text: string): DeviceKey {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // The parser's own message quotes the text, which holds the secret.
    throw new KeyFileError(path, "is not valid JSON");
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new KeyFileError(path, "expected a JSON object with key_id, algorithm and secret_key");
  }
  const record = data as Record<string, unknown>;
  const keyId = record.key_id;
  if (typeof keyId !== "string" || !isValidKeyId(keyId)) {
    throw new KeyFileError(path, "key_id: expected a string matching [A-Za-z0-9_.-]{1,64}");
  }
  const algorithm = record.algorithm ?? "ed25519";
  if (typeof algorithm !== "string" || !(ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw new KeyFileError(path, `algorithm: expected one of ${ALGORITHMS.join(", ")}`);
  }
  const secret = record.secret_key;
  if (typeof secret !== "string" || secret.length === 0) {
    throw new KeyFileError(path, "secret_key: expected a non-empty string");
  }
  if (algorithm === "hmac") {
    return { keyId, algorithm, secret: Buffer.from(secret, "utf8") };
  }
  const secretKey = Buffer.from(secret, "base64");
  try {
    const publicKey = ed25519PublicKeyOf(secretKey);
    return { keyId, algorithm: "ed25519", secret: secretKey, publicKey };
  } catch (error) {
    if (error instanceof KeyMaterialError) throw new KeyFileError(path, `secret_key: ${error.message}`);
    throw error;
  }
}

export function keyFileContents(key: DeviceKey): string {
  const secret =
    key.algorithm === "hmac"
      ? Buffer.from(key.secret).toString("utf8")
      : Buffer.from(key.secret).toString("base64");
  const record: Record<string, string> = { key_id: key.keyId, algorithm: key.algorithm, secret_key: secret };
  if (key.publicKey) record.public_key = Buffer.from(key.publicKey).toString("base64");
  return `${JSON.stringify(record, null, 2)}\n`;
}

/** Writes a key file with mode 0600 whatever the umask. Refuses to replace an existing file unless told to. */
export function writeKeyFile(path: string, key: DeviceKey, options: { overwrite?: boolean } = {}): void {
  let fd: number;
  try {
    fd = openSync(path, options.overwrite ? "w" : "wx", 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "EEXIST" ? "already exists; refusing to replace a key" : `cannot be written (${code})`;
    throw new KeyFileError(path, why);
  }
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, keyFileContents(key));
  } finally {
    closeSync(fd);
  }
}

export function signerForKey(key: DeviceKey): MessageSigner {
  return key.algorithm === "hmac"
    ? hmacSigner(Buffer.from(key.secret).toString("utf8"))
    : ed25519Signer(key.secret);
}
