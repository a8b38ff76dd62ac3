// The schema is compiled ahead of time (scripts/build/agent-config-validator.ts writes
// schema-validator.generated.ts): the agent never loads ajv itself.
import type { ErrorObject, ValidateFunction } from "ajv/dist/2020.js";
import { cronProblem } from "../schedule/cron-schedule.ts";
import { AGENT_CONFIG_FORMATS } from "./formats.ts";
import { labelClashes, resolveAgentConfig } from "./resolve.ts";
import { createSchemaValidator } from "./schema-validator.generated.ts";
import type { AgentConfigFile } from "./types.ts";

/** One thing wrong with a config: where (a JSON pointer, `/collect/net/ping/0`) and what was expected. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

let compiled: ValidateFunction<AgentConfigFile> | undefined;

function validator(): ValidateFunction<AgentConfigFile> {
  if (compiled) return compiled;
  const checks = Object.fromEntries(
    Object.entries(AGENT_CONFIG_FORMATS).map(([name, format]) => [name, format.validate]),
  );
  compiled = createSchemaValidator(checks) as ValidateFunction<AgentConfigFile>;
  return compiled;
}

/** Schema and cross-field checks. An empty list means the config is valid. */
export function validateAgentConfig(data: unknown): ConfigProblem[] {
  const validate = validator();
  if (!validate(data)) return dedupe((validate.errors ?? []).flatMap(describe));
  const problems = crossChecks(data);
  return problems.length > 0 ? problems : labelClashes(resolveAgentConfig(data));
}

export function isValidAgentConfig(data: unknown): data is AgentConfigFile {
  return validateAgentConfig(data).length === 0;
}

/** What JSON Schema cannot say: unique names, and a transport that agrees with the URL. */
function crossChecks(config: AgentConfigFile): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const scheme = new URL(config.server.url).protocol.slice(0, -1);
  if (config.server.transport !== undefined && config.server.transport !== scheme) {
    problems.push({
      path: "/server/transport",
      message: `"${config.server.transport}" contradicts the URL's ${scheme}://; the URL's scheme picks the transport, so drop this key or fix the URL`,
    });
  }
  const execNames = new Map<string, number>();
  (config.collect?.exec ?? []).forEach((entry, index) => {
    const first = execNames.get(entry.name);
    if (first !== undefined) {
      problems.push({
        path: `/collect/exec/${index}/name`,
        message: `"${entry.name}" is already used by /collect/exec/${first}`,
      });
    } else {
      execNames.set(entry.name, index);
    }
  });
  return problems;
}

function describe(error: ErrorObject): ConfigProblem[] {
  const path = error.instancePath;
  const parent = (error.parentSchema ?? {}) as { expected?: string; properties?: Record<string, unknown> };
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case "if":
    case "anyOf":
    case "oneOf":
      // The failing branch's own errors are reported; this one only says a branch failed.
      return [];
    case "required":
      return [{ path: `${path}/${String(params.missingProperty)}`, message: "is required" }];
    case "additionalProperties": {
      const known = Object.keys(parent.properties ?? {}).filter((key) => key !== "$schema");
      const hint = known.length > 0 ? ` (expected one of ${known.join(", ")})` : "";
      return [
        {
          path: `${path}/${escapePointer(String(params.additionalProperty))}`,
          message: `unknown key${hint}`,
        },
      ];
    }
    case "propertyNames":
      return [];
    case "type":
      return [{ path: displayPath(path), message: `expected ${parent.expected ?? typeName(params.type)}` }];
    case "enum":
      return [
        {
          path: displayPath(path),
          message: `expected one of ${(params.allowedValues as unknown[]).map((value) => JSON.stringify(value)).join(", ")}`,
        },
      ];
    case "format": {
      const format = AGENT_CONFIG_FORMATS[String(params.format)];
      const detail =
        params.format === "cron" && typeof error.data === "string" ? cronProblem(error.data) : undefined;
      const expected = parent.expected ?? format?.expected ?? `a ${String(params.format)}`;
      return [{ path: displayPath(path), message: `expected ${expected}${detail ? ` (${detail})` : ""}` }];
    }
    case "pattern": {
      // propertyNames errors carry the offending key in propertyName.
      const key = params.propertyName;
      if (typeof key === "string" || error.propertyName !== undefined) {
        const name = String(key ?? error.propertyName);
        return [
          {
            path: `${path}/${escapePointer(name)}`,
            message: `key: expected ${parent.expected ?? "a valid key"}`,
          },
        ];
      }
      return [
        {
          path: displayPath(path),
          message: `expected ${parent.expected ?? `text matching ${String(params.pattern)}`}`,
        },
      ];
    }
    case "minimum":
    case "maximum":
      return [
        {
          path: displayPath(path),
          message: parent.expected
            ? `expected ${parent.expected}`
            : `expected a number ${error.keyword === "minimum" ? ">=" : "<="} ${String(params.limit)}`,
        },
      ];
    case "minItems":
      return [
        {
          path: displayPath(path),
          message: `expected at least ${String(params.limit)} item${params.limit === 1 ? "" : "s"}`,
        },
      ];
    case "minLength":
      return [
        {
          path: displayPath(path),
          message: parent.expected ? `expected ${parent.expected}` : "must not be empty",
        },
      ];
    case "maxLength":
      return [{ path: displayPath(path), message: `expected at most ${String(params.limit)} characters` }];
    default:
      return [{ path: displayPath(path), message: error.message ?? "is invalid" }];
  }
}

function typeName(type: unknown): string {
  const names: Record<string, string> = {
    string: "a string",
    object: "an object",
    array: "a list",
    integer: "a whole number",
    number: "a number",
    boolean: "true or false",
  };
  const types = Array.isArray(type) ? type : String(type).split(",");
  return types.map((name) => names[String(name)] ?? String(name)).join(" or ");
}

function displayPath(path: string): string {
  return path === "" ? "/" : path;
}

function escapePointer(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const key = `${problem.path}\u0000${problem.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
