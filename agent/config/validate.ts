// The 2020-12 build: the same one conf loads, so the agent carries one copy of ajv's code.
import { Ajv2020 } from "ajv/dist/2020.js";
import type { ErrorObject, ValidateFunction } from "ajv/dist/2020.js";
import { parseDuration } from "../../protocol/duration.ts";
import { cronProblem } from "../schedule/cron-schedule.ts";
import { isDnsServer, isHostname, isHostnameOrIp, isHttpUrl, isServerUrl, splitHostPort } from "./hosts.ts";
import { labelClashes, resolveAgentConfig } from "./resolve.ts";
import { AGENT_CONFIG_SCHEMA } from "./schema.ts";
import type { AgentConfigFile } from "./types.ts";

/** One thing wrong with a config: where (a JSON pointer, `/collect/net/ping/0`) and what was expected. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

function isDuration(text: string): boolean {
  try {
    return parseDuration(text) > 0;
  } catch {
    return false;
  }
}

const FORMATS: Record<string, { validate: (text: string) => boolean; expected: string }> = {
  hostname: { validate: isHostname, expected: "a hostname" },
  "hostname-or-ip": { validate: isHostnameOrIp, expected: "a hostname or IP address" },
  "host-port": {
    validate: (text) => splitHostPort(text) !== undefined,
    expected: '"host:port" ("[::1]:53" for IPv6)',
  },
  "dns-server": { validate: isDnsServer, expected: 'an IP address, or "ip:port"' },
  "http-url": { validate: isHttpUrl, expected: "an http:// or https:// URL" },
  "server-url": {
    validate: isServerUrl,
    expected:
      "a URL starting with https://, http://, tcp:// or tls:// (tcp and tls need a port: tcp://metrics.example.org:2005)",
  },
  duration: { validate: isDuration, expected: 'a duration such as "30s", "5m" or "6h"' },
  cron: {
    validate: (text) => cronProblem(text) === undefined,
    expected: 'a cron schedule such as "*/10 * * * * *" (seconds first) or "*/5 * * * *"',
  },
  "sha256-base64": {
    validate: (text) => /^[A-Za-z0-9+/]{43}=$/.test(text),
    expected: "a base64 SHA-256 (44 characters ending in =)",
  },
};

let compiled: ValidateFunction<AgentConfigFile> | undefined;

function validator(): ValidateFunction<AgentConfigFile> {
  if (compiled) return compiled;
  const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
  ajv.addKeyword({ keyword: "expected", schemaType: "string" });
  for (const [name, format] of Object.entries(FORMATS)) ajv.addFormat(name, format.validate);
  compiled = ajv.compile<AgentConfigFile>(AGENT_CONFIG_SCHEMA);
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
      const format = FORMATS[String(params.format)];
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
