import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { DurationError, parseDuration } from "../../protocol/duration.ts";
import { decodeBase64Exact, ED25519_PUBLIC_KEY_BYTES, ed25519Verifier } from "../../protocol/keys.ts";
import type { Algorithm, MessageVerifier } from "../../protocol/keys.ts";
import { isValidKeyId } from "../../protocol/line.ts";
import { fastHmacVerifier } from "../verify/hmac-verifier.ts";
import { compileMetricAcl, GlobError } from "./metric-acl.ts";
import type { MetricAcl } from "./metric-acl.ts";

/** One key's entry, compiled: verifiers and ACL are built once per load, not per line. */
export interface AuthEntry {
  readonly keyId: string;
  readonly algorithm: Algorithm;
  /** Several while a key rotates: a line signed by any of them is good. */
  readonly verifiers: readonly MessageVerifier[];
  /** ed25519 only: the public keys in base64, in the same order, for verify workers. */
  readonly publicKeys: readonly string[];
  readonly metrics: readonly string[];
  readonly acl: MetricAcl;
  /** Lines per second, sustained. */
  readonly rate?: number;
  readonly burst?: number;
  readonly maxAgeMs?: number;
  readonly disabled: boolean;
}

export interface AuthTable {
  readonly entries: ReadonlyMap<string, AuthEntry>;
}

export class AuthFileError extends Error {
  override readonly name = "AuthFileError";
  constructor(
    readonly path: string,
    readonly problems: readonly string[],
  ) {
    super(`auth file ${path}: ${problems.join("; ")}`);
  }
}

const ENTRY_FIELDS = new Set(["secret_key", "ed25519", "metrics", "rate", "burst", "max_age", "disabled"]);

export function loadAuthFile(path: string): AuthTable {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new AuthFileError(path, [`cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`]);
  }
  return parseAuthFile(text, path);
}

/** Parses amproxy's YAML (JSON is YAML too). Problems name the key and the field, never a secret. */
export function parseAuthFile(text: string, path: string): AuthTable {
  // logLevel "error": yaml's warnings go to stderr and quote the file (a secret, in a mistyped key).
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: true, logLevel: "error" });
  if (document.errors.length > 0) {
    // yaml's messages quote the offending source line, which may hold a secret: give the place only.
    throw new AuthFileError(
      path,
      document.errors.map((error) => {
        const place = error.linePos?.[0];
        const where = place ? `line ${place.line}, column ${place.col}` : "syntax";
        return `${where}: invalid YAML (${error.code.toLowerCase().replaceAll("_", " ")})`;
      }),
    );
  }
  let root: unknown;
  try {
    root = document.toJS();
  } catch (error) {
    // An alias to no anchor, or an alias bomb: yaml throws here, past its error list. Its message
    // names the alias, not a value, but stay with the place-only form used above.
    throw new AuthFileError(path, [
      `invalid YAML (${error instanceof ReferenceError ? "unresolved or excessive aliases" : "cannot be read"})`,
    ]);
  }
  if (!isRecord(root) || !isRecord(root.apikeys)) {
    throw new AuthFileError(path, ["apikeys: expected a mapping of key ids to entries"]);
  }
  const problems: string[] = [];
  const entries = new Map<string, AuthEntry>();
  for (const [keyId, raw] of Object.entries(root.apikeys)) {
    const entry = compileEntry(keyId, raw, problems);
    if (entry) entries.set(keyId, entry);
  }
  if (problems.length > 0) throw new AuthFileError(path, problems);
  return { entries };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringList(value: unknown): string[] | undefined {
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === "string")) {
    return value as string[];
  }
  return undefined;
}

/** Within two edits of a known field name (`secret_kye`, `metric`): safe and useful to repeat. */
function looksLikeAField(name: string): boolean {
  if (name.length > 16) return false;
  const distance = (a: string, b: string): number => {
    let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
    for (let i = 1; i <= a.length; i++) {
      const current = [i];
      for (let j = 1; j <= b.length; j++) {
        const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
        current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
      }
      previous = current;
    }
    return previous[b.length] as number;
  };
  return [...ENTRY_FIELDS].some((field) => distance(name.toLowerCase(), field) <= 2);
}

function compileEntry(keyId: string, raw: unknown, problems: string[]): AuthEntry | undefined {
  // An invalid id can be anything a typo made a key of (a flow mapping holding a secret): only a
  // short one without YAML's structure characters is repeated back.
  const entryName =
    isValidKeyId(keyId) || /^[^\t\n\r{}[\],:"']{1,64}$/.test(keyId)
      ? `apikeys.${keyId}`
      : "apikeys.<an invalid key id, not shown>";
  const at = (field: string): string => `${entryName}.${field}`;
  const before = problems.length;
  if (!isValidKeyId(keyId)) problems.push(`${entryName}: key id must match [A-Za-z0-9_.-]{1,64}`);
  if (!isRecord(raw)) {
    problems.push(`${entryName}: expected a mapping with secret_key or ed25519, and metrics`);
    return undefined;
  }
  for (const field of Object.keys(raw)) {
    if (!ENTRY_FIELDS.has(field)) {
      // A typo such as `{secret_key S3cr3t, ...}` makes the secret part of a field name: only a
      // name close to a real field's is repeated back.
      const where = looksLikeAField(field) ? at(field) : `${entryName}: a field whose name is not shown`;
      problems.push(`${where}: unknown field (expected ${[...ENTRY_FIELDS].join(", ")})`);
    }
  }

  let algorithm: Algorithm | undefined;
  let verifiers: MessageVerifier[] = [];
  let publicKeys: string[] = [];
  if (raw.secret_key !== undefined && raw.ed25519 !== undefined) {
    problems.push(`${entryName}: set either secret_key (hmac) or ed25519, not both`);
  } else if (raw.secret_key !== undefined) {
    const secrets = stringList(raw.secret_key);
    if (!secrets || secrets.some((secret) => secret.length === 0)) {
      problems.push(`${at("secret_key")}: expected a non-empty string or a list of them`);
    } else {
      algorithm = "hmac";
      verifiers = secrets.map((secret) => fastHmacVerifier(secret));
    }
  } else if (raw.ed25519 !== undefined) {
    const keys = stringList(raw.ed25519);
    const decoded = keys?.map((key) => decodeBase64Exact(key, ED25519_PUBLIC_KEY_BYTES));
    if (!decoded || decoded.some((key) => key === undefined)) {
      problems.push(`${at("ed25519")}: expected base64 of a 32-byte public key, or a list of them`);
    } else {
      algorithm = "ed25519";
      verifiers = (decoded as Buffer[]).map(ed25519Verifier);
      publicKeys = keys as string[];
    }
  } else {
    problems.push(`${entryName}: missing secret_key (hmac) or ed25519 (public key)`);
  }

  let acl: MetricAcl | undefined;
  const metrics = Array.isArray(raw.metrics) ? raw.metrics : undefined;
  if (!metrics || !metrics.every((item) => typeof item === "string" && item.length > 0)) {
    problems.push(`${at("metrics")}: expected a list of metric names or Graphite globs`);
  } else {
    try {
      acl = compileMetricAcl(metrics as string[]);
    } catch (error) {
      if (!(error instanceof GlobError)) throw error;
      problems.push(`${at("metrics")}: ${error.message}`);
    }
  }

  const positive = (field: "rate" | "burst"): number | undefined => {
    const value = raw[field];
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      problems.push(`${at(field)}: expected a positive number`);
      return undefined;
    }
    return value;
  };
  const rate = positive("rate");
  const burst = positive("burst");

  let maxAgeMs: number | undefined;
  if (raw.max_age !== undefined) {
    try {
      maxAgeMs =
        typeof raw.max_age === "number"
          ? raw.max_age * 1000
          : typeof raw.max_age === "string"
            ? parseDuration(raw.max_age)
            : Number.NaN;
      if (!(maxAgeMs > 0)) throw new DurationError("must be positive");
    } catch (error) {
      if (!(error instanceof DurationError)) throw error;
      problems.push(`${at("max_age")}: expected a duration such as 7d, 12h or 30m, or seconds`);
    }
  }

  if (raw.disabled !== undefined && typeof raw.disabled !== "boolean") {
    problems.push(`${at("disabled")}: expected true or false`);
  }

  if (problems.length > before || !algorithm || !acl) return undefined;
  return {
    keyId,
    algorithm,
    verifiers,
    publicKeys,
    metrics: metrics as string[],
    acl,
    ...(rate !== undefined && { rate }),
    ...(burst !== undefined && { burst }),
    ...(maxAgeMs !== undefined && { maxAgeMs }),
    disabled: raw.disabled === true,
  };
}
