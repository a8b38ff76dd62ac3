// The schema's custom formats (`"format": "duration"` in schema.ts): the check, and what the
// error message says was expected. Shared by the validator and the code generator that compiles
// the schema ahead of time (scripts/build/agent-config-validator.ts).
import { parseDuration } from "../../protocol/duration.ts";
import { cronProblem } from "../schedule/cron-schedule.ts";
import { isDnsServer, isHostname, isHostnameOrIp, isHttpUrl, isServerUrl, splitHostPort } from "./hosts.ts";

export interface ConfigFormat {
  readonly validate: (text: string) => boolean;
  readonly expected: string;
}

function isDuration(text: string): boolean {
  try {
    return parseDuration(text) > 0;
  } catch {
    return false;
  }
}

export const AGENT_CONFIG_FORMATS: Readonly<Record<string, ConfigFormat>> = {
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

export const AGENT_CONFIG_FORMAT_NAMES: readonly string[] = Object.keys(AGENT_CONFIG_FORMATS);
