import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { validateAgentConfig } from "../../../../agent/config/validate.ts";

const EXAMPLE = JSON.parse(
  readFileSync(new URL("../../../../agent/config/agent.example.json", import.meta.url), "utf8"),
) as Record<string, unknown>;

const minimal = {
  device: "grandma-pi",
  key_file: "/etc/homeward/device.key",
  server: { url: "https://m.example.org" },
};

function problems(data: unknown): string[] {
  return validateAgentConfig(data).map((problem) => `${problem.path}: ${problem.message}`);
}

describe("validateAgentConfig", () => {
  it("accepts the example and a minimal config", () => {
    assert.deepEqual(problems(EXAMPLE), []);
    assert.deepEqual(problems(minimal), []);
    assert.deepEqual(problems({ ...minimal, server: { url: "tcp://m.example.org:2005" } }), []);
    assert.deepEqual(
      problems({
        ...minimal,
        control: {
          url: "mqtts://b.example.org:8883",
          owner_public_key: "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        },
        mqtt: { url: "mqtt://192.168.1.10", subscriptions: [{ topic: "tele/+/SENSOR" }] },
      }),
      [],
    );
  });

  it("says what is missing and what is unknown", () => {
    assert.deepEqual(problems({ device: "x", server: {} }), [
      "/key_file: is required",
      "/server/url: is required",
    ]);
    assert.deepEqual(problems([]), ["/: expected an object"]);
  });

  it("explains each kind of mistake in words", () => {
    const cases: [unknown, string][] = [
      [{ ...minimal, device: "grandma.pi" }, "/device: expected a device name: 1-64 letters, digits, _ or -"],
      [
        { ...minimal, server: { url: "tcp://m.example.org" } },
        "/server/url: expected a URL starting with https://, http://, tcp:// or tls:// (tcp and tls need a port: tcp://metrics.example.org:2005)",
      ],
      [
        { ...minimal, server: { url: "https://m", transport: "udp" } },
        '/server/transport: expected one of "https", "http", "tcp", "tls", "mqtt", "mqtts"',
      ],
      [
        { ...minimal, clock: { max_hold: "6 hours" } },
        '/clock/max_hold: expected a duration such as "30s", "5m" or "6h"',
      ],
      [
        { ...minimal, clock: { max_held_readings: "many" } },
        "/clock/max_held_readings: expected a whole number",
      ],
      [
        { ...minimal, collect: { system: { enabled: "yes" } } },
        "/collect/system/enabled: expected true or false",
      ],
      [
        { ...minimal, collect: { system: { schedule: "*/10 * * *" } } },
        '/collect/system/schedule: expected a cron schedule such as "*/10 * * * * *" (seconds first) or "*/5 * * * *" (expected 5 or 6 fields but got 4)',
      ],
      [
        { ...minimal, collect: { net: { tcp: ["example.org"] } } },
        '/collect/net/tcp/0: expected "host:port" ("[::1]:53" for IPv6)',
      ],
      [
        { ...minimal, collect: { net: { dns: [{ name: "example.org", resolver: "dns.google" }] } } },
        '/collect/net/dns/0/resolver: expected an IP address, or "ip:port"',
      ],
      [
        { ...minimal, collect: { net: { http: ["ftp://example.org/"] } } },
        "/collect/net/http/0: expected an http:// or https:// URL",
      ],
      [
        { ...minimal, collect: { net: { ping: [{ host: "1.1.1.1", label: "a.b" }] } } },
        "/collect/net/ping/0/label: expected a metric segment: letters, digits, _ : - (no dots)",
      ],
      [
        { ...minimal, collect: { pi: { w1_names: { greenhouse: "x" } } } },
        "/collect/pi/w1_names/greenhouse: key: expected a 1-Wire sensor id such as 28-0316a2795aff",
      ],
      [
        { ...minimal, collect: { exec: [{ name: "x", command: "/bin/true" }] } },
        '/collect/exec/0/command: expected a command as a list: ["/usr/local/bin/read-sensors", "--json"]',
      ],
      [
        { ...minimal, buffer: { max_bytes: 1000 } },
        "/buffer/max_bytes: expected a size in bytes, at least 1048576 (1 MiB)",
      ],
      [
        { ...minimal, server: { url: "https://m", pin_sha256: ["abc"] } },
        "/server/pin_sha256/0: expected a base64 SHA-256 (44 characters ending in =)",
      ],
    ];
    for (const [data, expected] of cases) assert.deepEqual(problems(data), [expected]);
  });
});
