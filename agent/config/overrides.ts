import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Runtime overrides: keys the owner changed remotely (the MQTT control channel), kept in the state
 * dir and merged on top of the owner's config file, which the agent never writes.
 */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** The overrides file inside the state dir (conf's `configName` + `.json`). */
export const OVERRIDES_FILE = "overrides.json";

/**
 * Keys an override may not touch: the device's identity, its signing key and the control
 * channel's own trust settings stay in the owner's file, so a remote change can never lock the
 * owner out or make the box sign as someone else.
 */
export const PROTECTED_OVERRIDE_KEYS: readonly string[] = ["device", "key_file", "control"];

/**
 * Deeper paths an override may not set either. `collect.exec` runs commands on the device: a remote
 * change may retune schedules and targets, but new commands come only from the owner's file on
 * the box, so a stolen control key cannot run code in every family home.
 */
export const PROTECTED_OVERRIDE_PATHS: readonly (readonly string[])[] = [["collect", "exec"]];

function touchesPath(target: JsonObject, path: readonly string[]): boolean {
  let node: JsonValue = target;
  for (const segment of path) {
    if (!isJsonObject(node) || !Object.hasOwn(node, segment)) return false;
    node = node[segment] as JsonValue;
  }
  return true;
}

const FORBIDDEN_SEGMENTS = new Set(["__proto__", "prototype", "constructor"]);

export class OverridesError extends Error {
  override readonly name = "OverridesError";
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Objects merge key by key; arrays and everything else replace. Neither input is modified. */
export function deepMerge(base: JsonObject, patch: JsonObject): JsonObject {
  const result: JsonObject = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (FORBIDDEN_SEGMENTS.has(key)) continue;
    const current = result[key];
    result[key] = isJsonObject(current) && isJsonObject(value) ? deepMerge(current, value) : cloneJson(value);
  }
  return result;
}

function cloneJson(value: JsonValue): JsonValue {
  return structuredClone(value);
}

/** Checks a dotted key (`collect.net.ping`) and splits it; throws OverridesError with the reason. */
export function splitKey(key: string): string[] {
  const segments = key.split(".");
  if (key.length === 0 || segments.some((segment) => segment.length === 0)) {
    throw new OverridesError(`"${key}": not a dotted key (empty segment)`);
  }
  if (segments.some((segment) => FORBIDDEN_SEGMENTS.has(segment))) {
    throw new OverridesError(`"${key}": not allowed`);
  }
  const protectedKey = PROTECTED_OVERRIDE_KEYS.find((name) => segments[0] === name);
  if (protectedKey !== undefined) {
    throw new OverridesError(
      `"${key}": ${protectedKey} can only be changed in the config file on the device`,
    );
  }
  return segments;
}

/**
 * `{"collect.net.ping": ["1.1.1.1"], "clock": {"max_hold": "2h"}}` → nested objects. Later keys
 * merge into earlier ones (`a.b` then `a.c` gives both).
 */
export function expandDottedKeys(changes: Readonly<Record<string, unknown>>): JsonObject {
  let result: JsonObject = {};
  for (const [key, value] of Object.entries(changes)) {
    const segments = splitKey(key);
    if (value === undefined) throw new OverridesError(`"${key}": no value (use delete to remove a key)`);
    let nested = value as JsonValue;
    for (const segment of [...segments].reverse()) nested = { [segment]: nested };
    result = deepMerge(result, nested as JsonObject);
  }
  for (const path of PROTECTED_OVERRIDE_PATHS) {
    if (touchesPath(result, path)) {
      throw new OverridesError(`"${path.join(".")}" can only be changed in the config file on the device`);
    }
  }
  return result;
}

/** Removes a dotted key, pruning objects it leaves empty. True if something was removed. */
export function deleteKey(target: JsonObject, segments: readonly string[]): boolean {
  const [head, ...rest] = segments;
  if (head === undefined || !Object.hasOwn(target, head)) return false;
  if (rest.length === 0) {
    Reflect.deleteProperty(target, head);
    return true;
  }
  const child = target[head];
  if (!isJsonObject(child)) return false;
  const removed = deleteKey(child, rest);
  if (removed && Object.keys(child).length === 0) Reflect.deleteProperty(target, head);
  return removed;
}

/**
 * The overrides file. Reading is a plain JSON read (the agent reads it on every start); writing
 * goes through `conf`, which writes atomically. conf is loaded on the first write only: it brings
 * ajv-formats and more along, several MB of RSS that a device which is never reconfigured should
 * not carry.
 *
 * conf is given no defaults and no schema, so its constructor never writes (it does when defaults
 * add keys), and `cwd` + `configName` put its file in the state dir, never in ~/.config.
 */
export class OverridesStore {
  readonly path: string;
  #conf: { store: Record<string, unknown> } | undefined;

  constructor(readonly stateDir: string) {
    this.path = join(stateDir, OVERRIDES_FILE);
  }

  /** The overrides, `{}` when there is no file. Throws OverridesError when the file is unreadable. */
  read(): JsonObject {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw new OverridesError(
        `${this.path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      );
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new OverridesError(`${this.path}: not valid JSON`);
    }
    if (!isJsonObject(data)) throw new OverridesError(`${this.path}: expected a JSON object`);
    const { __internal__: _conf, ...overrides } = data;
    return overrides;
  }

  /** Replaces the whole overrides object (atomically: write to a temp file, then rename). */
  async write(overrides: JsonObject): Promise<void> {
    const conf = await this.#open();
    conf.store = overrides;
  }

  async #open(): Promise<{ store: Record<string, unknown> }> {
    if (this.#conf) return this.#conf;
    const { default: Conf } = await import("conf");
    this.#conf = new Conf<Record<string, unknown>>({
      cwd: this.stateDir,
      configName: "overrides",
      projectName: "homeward",
      projectSuffix: "",
      configFileMode: 0o600,
      accessPropertiesByDotNotation: false,
      // A corrupt file is replaced by the next write rather than blocking every write forever.
      clearInvalidConfig: true,
    });
    return this.#conf;
  }
}
