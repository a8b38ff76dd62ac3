// The shared registry behind the secret scan (secret-scan.test.ts): every log a test produces is
// kept as a file under one directory per test run, and every secret a test makes up is written to a
// list there, so that a scan run after all the other test files can look for each secret in each
// log. scripts/run-tests.ts sets HOMEWARD_TEST_LOG_DIR for the run; without it (one file run by
// hand) nothing is written and the scan checks only what it produces itself.
import { appendFileSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { DestinationStream } from "pino";

export const TEST_LOG_DIR_ENV = "HOMEWARD_TEST_LOG_DIR";
const SECRETS_FILE = "secrets.jsonl";
/** Shorter strings would match by chance (a 4-character hmac secret is in every base64 signature). */
export const MIN_SECRET_CHARS = 8;

export interface RegisteredSecret {
  readonly label: string;
  /** The secret as text (an hmac secret), or base64 of its bytes (an Ed25519 key, a PEM's DER). */
  readonly text?: string;
  readonly base64?: string;
}

/** The run's log directory, created on first use; undefined when the runner did not set one. */
export function testLogDir(): string | undefined {
  const dir = process.env[TEST_LOG_DIR_ENV];
  if (!dir) return undefined;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

const registeredHere: RegisteredSecret[] = [];

/** Remembers a secret a test used, for the scan. Bytes (a private key) are stored as base64. */
export function registerSecret(label: string, secret: string | Uint8Array): void {
  const entry: RegisteredSecret =
    typeof secret === "string"
      ? { label, text: secret }
      : { label, base64: Buffer.from(secret).toString("base64") };
  registeredHere.push(entry);
  const dir = testLogDir();
  if (dir) appendFileSync(join(dir, SECRETS_FILE), `${JSON.stringify(entry)}\n`, { mode: 0o600 });
}

/** Secrets registered by this process and, when there is a run directory, by every test file so far. */
export function registeredSecrets(): RegisteredSecret[] {
  const found = [...registeredHere];
  const dir = testLogDir();
  if (!dir) return found;
  let text: string;
  try {
    text = readFileSync(join(dir, SECRETS_FILE), "utf8");
  } catch {
    return found;
  }
  for (const line of text.split("\n")) if (line.trim()) found.push(JSON.parse(line) as RegisteredSecret);
  return found;
}

function fileName(name: string): string {
  return `${name.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 80)}-${process.pid}.log`;
}

/** Appends text to this process's log file called `name` in the run directory (a no-op without one). */
export function persistLog(name: string, text: string): void {
  const dir = testLogDir();
  if (!dir || text.length === 0) return;
  appendFileSync(join(dir, fileName(name)), text);
}

/** A pino destination that keeps the lines in memory for assertions and in the run directory for the scan. */
export class PersistedLogCapture implements DestinationStream {
  readonly lines: string[] = [];
  constructor(private readonly name: string) {}
  write(line: string): void {
    this.lines.push(line);
    persistLog(this.name, line);
  }
  text(): string {
    return this.lines.join("");
  }
}

/** Every log file of the run (secrets.jsonl excluded), with its contents. */
export function collectedLogs(): { file: string; text: string }[] {
  const dir = testLogDir();
  if (!dir) return [];
  return readdirSync(dir)
    .filter((name) => name !== SECRETS_FILE && statSync(join(dir, name)).isFile())
    .map((name) => ({ file: join(dir, name), text: readFileSync(join(dir, name), "latin1") }));
}

/**
 * The strings that give a secret away: the text itself; for bytes their base64 (padded or not),
 * base64url and hex; for a 64-byte NaCl secret key also its 32-byte seed in each form.
 */
export function needlesOf(secret: RegisteredSecret): string[] {
  const needles = new Set<string>();
  if (secret.text !== undefined) needles.add(secret.text);
  if (secret.base64 !== undefined) {
    const bytes = Buffer.from(secret.base64, "base64");
    const forms = (data: Buffer): string[] => [
      data.toString("base64").replace(/=+$/, ""),
      data.toString("base64url"),
      data.toString("hex"),
    ];
    for (const form of forms(bytes)) needles.add(form);
    if (bytes.length === 64) for (const form of forms(bytes.subarray(0, 32))) needles.add(form);
  }
  return [...needles].filter((needle) => needle.length >= MIN_SECRET_CHARS);
}
