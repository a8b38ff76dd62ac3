import type { JsonValue } from "../config/overrides.ts";

export const REDACTED = "<redacted>";

/** Keys whose values are secrets wherever they appear: `password`, `secret_key`, `token`, `api_key`... */
const SECRET_KEY = /pass(?:word|wd|phrase)?$|secret|token|private|credential|api_?key|^psk$/i;
/** Keys whose every value is treated as a secret: an exec entry's environment often carries tokens. */
const SECRET_MAPS = new Set(["env"]);
/** `scheme://user:password@host` */
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*):[^/@\s]*@/i;

/**
 * A copy of a config (or overrides) safe to publish: passwords, key material and exec environment
 * values replaced by `<redacted>`, and passwords inside URLs too. Paths (`key_file`, `ca_file`) and
 * public keys stay: they say where a secret is, not what it is.
 */
export function redactSecrets(value: JsonValue): JsonValue {
  if (typeof value === "string") return value.replace(URL_PASSWORD, `$1:${REDACTED}@`);
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== "object") return value;
  const result: Record<string, JsonValue> = {};
  for (const [key, child] of Object.entries(value)) {
    if (SECRET_KEY.test(key)) {
      result[key] = REDACTED;
    } else if (SECRET_MAPS.has(key) && child !== null && typeof child === "object" && !Array.isArray(child)) {
      result[key] = Object.fromEntries(Object.keys(child).map((name) => [name, REDACTED]));
    } else {
      result[key] = redactSecrets(child);
    }
  }
  return result;
}
