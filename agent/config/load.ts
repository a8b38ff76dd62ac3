import { readFileSync } from "node:fs";
import { resolveAgentConfig } from "./resolve.ts";
import type { AgentConfig, AgentConfigFile } from "./types.ts";
import { validateAgentConfig } from "./validate.ts";
import type { ConfigProblem } from "./validate.ts";
import {
  deepMerge,
  deleteKey,
  expandDottedKeys,
  isJsonObject,
  OverridesError,
  OverridesStore,
  splitKey,
} from "./overrides.ts";
import type { JsonObject } from "./overrides.ts";

export const DEFAULT_CONFIG_PATH = "/etc/homeward/agent.json";
export const DEFAULT_STATE_DIR = "/var/lib/homeward";

/** A config that cannot be used. `message` has one line per problem: `<source>: <path>: <what was expected>`. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    /** The file (or `file + overrides`) the problems are in. */
    readonly source: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(problems.map((problem) => `${source}: ${problem.path}: ${problem.message}`).join("\n"));
  }
}

export interface LoadedAgentConfig {
  /** What the agent runs on. */
  readonly config: AgentConfig;
  readonly configPath: string;
  /** The owner's file as read. */
  readonly file: AgentConfigFile;
  /** The overrides in effect (`{}` when none, or when they were set aside; see `warnings`). */
  readonly overrides: JsonObject;
  readonly overridesStore: OverridesStore;
  /**
   * Why the overrides were set aside, if they were: the agent then runs on the owner's file alone
   * rather than not at all, and the control channel can still repair them.
   */
  readonly warnings: readonly string[];
}

export interface LoadOptions {
  readonly configPath?: string;
  readonly stateDir?: string;
}

/**
 * Reads and validates the owner's file, then merges the overrides from the state dir on top
 * (objects merge, arrays replace) and validates the result. Throws ConfigError when the owner's
 * file is unusable; never writes anything.
 */
export function loadAgentConfig(options: LoadOptions = {}): LoadedAgentConfig {
  const configPath = options.configPath ?? DEFAULT_CONFIG_PATH;
  const overridesStore = new OverridesStore(options.stateDir ?? DEFAULT_STATE_DIR);
  const raw = readConfigFile(configPath);
  const fileProblems = validateAgentConfig(raw);
  if (fileProblems.length > 0) throw new ConfigError(configPath, fileProblems);
  const file = raw as AgentConfigFile;

  const warnings: string[] = [];
  let overrides: JsonObject = {};
  try {
    overrides = overridesStore.read();
  } catch (error) {
    if (!(error instanceof OverridesError)) throw error;
    warnings.push(`${error.message}; running on ${configPath} alone`);
  }
  if (Object.keys(overrides).length > 0) {
    const problems = validateAgentConfig(deepMerge(file as unknown as JsonObject, overrides));
    if (problems.length > 0) {
      const source = `${configPath} + ${overridesStore.path}`;
      warnings.push(
        `${new ConfigError(source, problems).message}\noverrides set aside; running on ${configPath} alone`,
      );
      overrides = {};
    }
  }
  const merged = deepMerge(file as unknown as JsonObject, overrides) as unknown as AgentConfigFile;
  return { config: resolveAgentConfig(merged), configPath, file, overrides, overridesStore, warnings };
}

/** The owner's file as JSON; ConfigError (naming line and column) when it cannot be read or parsed. */
export function readConfigFile(configPath: string): unknown {
  let text: string;
  try {
    text = readFileSync(configPath, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "does not exist (set another path with --config)"
        : code === "EACCES"
          ? "cannot be read: permission denied"
          : `cannot be read (${code ?? "error"})`;
    throw new ConfigError(configPath, [{ path: "/", message: why }]);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(configPath, [
      { path: "/", message: `not valid JSON: ${jsonErrorWhere(text, error)}` },
    ]);
  }
}

/**
 * "Unexpected token 'x' at line 3, column 15". Node's JSON.parse messages changed wording across
 * versions and Node 20's carries no position, so the position comes from a small scan of our own.
 */
function jsonErrorWhere(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const reason = (message.split(/, \.\.\.|, "|\s+in JSON|\s+\(line|\n/)[0] ?? message).trim();
  const offset = jsonErrorOffset(text);
  if (offset === undefined) return reason;
  if (offset >= text.length) return `${reason} (the file ends early)`;
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return `${reason} at line ${line}, column ${column}`;
}

/** Offset of the first character that makes `text` invalid JSON; undefined if it is valid. */
export function jsonErrorOffset(text: string): number | undefined {
  let index = 0;
  const fail = (): never => {
    throw index;
  };
  const space = (): void => {
    while (index < text.length && " \t\n\r".includes(text.charAt(index))) index++;
  };
  const literal = (word: string): void => {
    for (const char of word) {
      if (text.charAt(index) !== char) fail();
      index++;
    }
  };
  const string = (): void => {
    index++;
    for (;;) {
      if (index >= text.length) fail();
      const char = text.charAt(index);
      if (char === '"') {
        index++;
        return;
      }
      if (char.charCodeAt(0) < 0x20) fail();
      if (char === "\\") {
        index++;
        const escape = text.charAt(index);
        if (escape === "u") {
          for (let digit = 0; digit < 4; digit++) {
            index++;
            if (!/[0-9A-Fa-f]/.test(text.charAt(index))) fail();
          }
        } else if (!'"\\/bfnrt'.includes(escape) || escape === "") {
          fail();
        }
      }
      index++;
    }
  };
  const number = (): void => {
    const pattern = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    pattern.lastIndex = index;
    if (!pattern.test(text)) fail();
    index = pattern.lastIndex;
  };
  const container = (close: string, member: () => void): void => {
    index++;
    space();
    if (text.charAt(index) === close) {
      index++;
      return;
    }
    for (;;) {
      space();
      member();
      space();
      const char = text.charAt(index);
      index++;
      if (char === close) return;
      if (char !== ",") {
        index--;
        fail();
      }
    }
  };
  const value = (): void => {
    const char = text.charAt(index);
    if (char === "{") {
      container("}", () => {
        if (text.charAt(index) !== '"') fail();
        string();
        space();
        if (text.charAt(index) !== ":") fail();
        index++;
        space();
        value();
      });
    } else if (char === "[") {
      container("]", value);
    } else if (char === '"') {
      string();
    } else if (char === "t") {
      literal("true");
    } else if (char === "f") {
      literal("false");
    } else if (char === "n") {
      literal("null");
    } else {
      number();
    }
  };
  try {
    space();
    value();
    space();
    if (index < text.length) fail();
    return undefined;
  } catch (offset) {
    if (typeof offset === "number") return offset;
    throw offset;
  }
}

export type OverrideResult =
  | {
      readonly ok: true;
      /** The new state: hand `config` to the scheduler (a config change re-creates its tasks). */
      readonly loaded: LoadedAgentConfig;
      /** Keys a delete named that were not overridden. */
      readonly missing: readonly string[];
    }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * The control channel's `update`: merges `changes` (dotted keys, or nested objects; arrays
 * replace) into the overrides, validates the merged config and only then writes it. On any
 * problem nothing is written and the current config stays.
 */
export async function updateOverrides(
  loaded: LoadedAgentConfig,
  changes: Readonly<Record<string, unknown>>,
): Promise<OverrideResult> {
  let patch: JsonObject;
  try {
    patch = expandDottedKeys(changes);
  } catch (error) {
    if (error instanceof OverridesError) return { ok: false, problems: [error.message] };
    throw error;
  }
  return commit(loaded, deepMerge(loaded.overrides, patch), []);
}

/** The control channel's `delete`: removes the listed dotted keys, or every override when none are listed. */
export async function deleteOverrides(
  loaded: LoadedAgentConfig,
  keys?: readonly string[],
): Promise<OverrideResult> {
  if (keys === undefined || keys.length === 0) return commit(loaded, {}, []);
  const next = structuredClone(loaded.overrides);
  const missing: string[] = [];
  for (const key of keys) {
    let segments: string[];
    try {
      segments = splitKey(key);
    } catch (error) {
      if (error instanceof OverridesError) return { ok: false, problems: [error.message] };
      throw error;
    }
    if (!deleteKey(next, segments)) missing.push(key);
  }
  return commit(loaded, next, missing);
}

async function commit(
  loaded: LoadedAgentConfig,
  overrides: JsonObject,
  missing: string[],
): Promise<OverrideResult> {
  const merged = deepMerge(loaded.file as unknown as JsonObject, overrides);
  const problems = validateAgentConfig(merged);
  if (problems.length > 0) {
    const source = `${loaded.configPath} + overrides`;
    return { ok: false, problems: new ConfigError(source, problems).message.split("\n") };
  }
  if (!isJsonObject(merged)) return { ok: false, problems: ["overrides must be an object"] };
  await loaded.overridesStore.write(overrides);
  const config = resolveAgentConfig(merged as unknown as AgentConfigFile);
  return { ok: true, loaded: { ...loaded, config, overrides, warnings: [] }, missing };
}
