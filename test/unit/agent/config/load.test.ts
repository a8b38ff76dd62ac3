import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, beforeEach, describe, it } from "node:test";
import {
  ConfigError,
  deleteOverrides,
  loadAgentConfig,
  updateOverrides,
} from "../../../../agent/config/load.ts";

const EXAMPLE = new URL("../../../../agent/config/agent.example.json", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "homeward-config-"));
after(() => rmSync(work, { recursive: true, force: true }));

let dir: string;
let configPath: string;
let stateDir: string;
let home: string;
let savedHome: string | undefined;
let savedXdg: string | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(work, "case-"));
  configPath = join(dir, "agent.json");
  stateDir = join(dir, "state");
  home = join(dir, "home");
  mkdirSync(home);
  // conf falls back to ~/.config when misused; point HOME somewhere we can watch.
  savedHome = process.env.HOME;
  savedXdg = process.env.XDG_CONFIG_HOME;
  process.env.HOME = home;
  delete process.env.XDG_CONFIG_HOME;
  writeFileSync(configPath, readFileSync(EXAMPLE));
});

afterEach(() => {
  process.env.HOME = savedHome;
  if (savedXdg !== undefined) process.env.XDG_CONFIG_HOME = savedXdg;
});

function writeConfig(data: unknown): void {
  writeFileSync(configPath, JSON.stringify(data, null, 2));
}

function example(): Record<string, unknown> {
  return JSON.parse(readFileSync(EXAMPLE, "utf8")) as Record<string, unknown>;
}

function loadError(): ConfigError {
  try {
    loadAgentConfig({ configPath, stateDir });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail("expected a ConfigError");
}

describe("loadAgentConfig", () => {
  it("loads the example and fills in every default", () => {
    const { config, warnings, overrides } = loadAgentConfig({ configPath, stateDir });
    assert.deepEqual(warnings, []);
    assert.deepEqual(overrides, {});
    assert.equal(config.device, "grandma-pi");
    assert.equal(config.prefix, "homeward.grandma-pi");
    assert.equal(config.server.transport, "https");
    assert.deepEqual(config.server.pinSha256, ["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]);
    assert.equal(config.buffer.maxBytes, 64 * 1024 * 1024);
    assert.equal(config.clock.maxHoldMs, 6 * 3600_000);
    assert.equal(config.clock.syncCheck, "auto");
    assert.equal(config.collect.pi.schedule, "*/10 * * * * *");
    assert.deepEqual(config.collect.net.ping, [
      { host: "192.168.1.1", label: "192_168_1_1" },
      { host: "1.1.1.1", label: "cloudflare" },
    ]);
    assert.deepEqual(config.collect.net.tcp, [
      { host: "metrics.example.org", port: 443, label: "metrics_example_org:443" },
    ]);
    assert.equal(config.collect.net.dns[0]?.label, "example_org_via_192_168_1_1");
    assert.equal(config.collect.net.http[0]?.label, "example_org");
    assert.deepEqual(config.collect.exec[0]?.command, ["/usr/local/bin/read-boiler", "--once"]);
    assert.equal(config.collect.exec[0]?.timeoutMs, 20_000);
  });

  it("never writes: no state dir, no overrides file, nothing in ~/.config", () => {
    const before = readFileSync(configPath);
    loadAgentConfig({ configPath, stateDir });
    assert.equal(existsSync(stateDir), false);
    assert.deepEqual(readdirSync(home), []);
    assert.deepEqual(readFileSync(configPath), before);
  });

  it("names the file, the JSON path and what was expected", () => {
    const data = example();
    (data.collect as { net: { ping: unknown[] } }).net.ping = ["not a host!"];
    (data.server as Record<string, unknown>).url = "tcp://metrics.example.org";
    (data.collect as Record<string, unknown>).nett = {};
    writeConfig(data);
    const error = loadError();
    assert.equal(error.source, configPath);
    const lines = error.message.split("\n");
    assert.ok(
      lines.includes(`${configPath}: /collect/net/ping/0: expected a hostname or IP address`),
      error.message,
    );
    assert.ok(
      lines.some((line) =>
        line.startsWith(`${configPath}: /server/url: expected a URL starting with https://`),
      ),
    );
    assert.ok(
      lines.some((line) =>
        line.startsWith(
          `${configPath}: /collect/nett: unknown key (expected one of system, pi, net, exec, self)`,
        ),
      ),
    );
  });

  it("says where JSON syntax breaks", () => {
    writeFileSync(configPath, '{\n  "device": "grandma-pi",\n  "key_file": x\n}\n');
    const error = loadError();
    assert.match(error.message, new RegExp(`^${configPath}: /: not valid JSON: .* at line 3, column 15$`));
  });

  it("says when the file is missing", () => {
    rmSync(configPath);
    assert.match(loadError().message, /agent\.json: \/: does not exist \(set another path with --config\)/);
  });

  it("catches what the schema cannot: clashing labels, duplicate exec names, a contradicting transport", () => {
    const data = example();
    const collect = data.collect as { net: Record<string, unknown>; exec: Record<string, unknown>[] };
    collect.net.ping = ["1.1.1.1", { host: "9.9.9.9", label: "1_1_1_1" }];
    writeConfig(data);
    assert.match(
      loadError().message,
      /\/collect\/net\/ping\/1: its metric label "1_1_1_1" is already used by \/collect\/net\/ping\/0/,
    );

    const twice = example();
    const exec = (twice.collect as { exec: Record<string, unknown>[] }).exec;
    exec.push({ ...exec[0] });
    writeConfig(twice);
    assert.match(
      loadError().message,
      /\/collect\/exec\/1\/name: "boiler" is already used by \/collect\/exec\/0/,
    );

    const contradiction = example();
    (contradiction.server as Record<string, unknown>).transport = "tcp";
    writeConfig(contradiction);
    assert.match(loadError().message, /\/server\/transport: "tcp" contradicts the URL's https:\/\//);
  });

  it("merges overrides from the state dir on top: objects merge, arrays replace", () => {
    mkdirSync(stateDir);
    writeFileSync(
      join(stateDir, "overrides.json"),
      JSON.stringify({
        collect: { net: { ping: ["10.0.0.1"], schedule: "*/30 * * * * *" } },
        clock: { max_hold: "2h" },
      }),
    );
    const { config, overrides } = loadAgentConfig({ configPath, stateDir });
    assert.deepEqual(config.collect.net.ping, [{ host: "10.0.0.1", label: "10_0_0_1" }]);
    assert.equal(config.collect.net.schedule, "*/30 * * * * *");
    assert.equal(config.collect.net.tcp.length, 1, "untouched keys of the same object stay");
    assert.equal(config.clock.maxHoldMs, 2 * 3600_000);
    assert.deepEqual(Object.keys(overrides).sort(), ["clock", "collect"]);
  });

  it("sets aside overrides that are corrupt or no longer fit the file, and says why", () => {
    mkdirSync(stateDir);
    writeFileSync(join(stateDir, "overrides.json"), "{ not json");
    const corrupt = loadAgentConfig({ configPath, stateDir });
    assert.equal(corrupt.config.collect.net.ping.length, 2);
    assert.match(
      corrupt.warnings[0] ?? "",
      /overrides\.json: not valid JSON; running on .*agent\.json alone/,
    );

    writeFileSync(
      join(stateDir, "overrides.json"),
      JSON.stringify({ collect: { net: { ping_count: 500 } } }),
    );
    const misfit = loadAgentConfig({ configPath, stateDir });
    assert.equal(misfit.config.collect.net.pingCount, 3);
    assert.deepEqual(misfit.overrides, {});
    assert.match(misfit.warnings[0] ?? "", /\/collect\/net\/ping_count: expected a number <= 20/);
  });
});

describe("runtime overrides", () => {
  it("update merges dotted keys, validates, then writes overrides.json (0600) and leaves the owner's file alone", async () => {
    const before = readFileSync(configPath);
    const loaded = loadAgentConfig({ configPath, stateDir });
    const result = await updateOverrides(loaded, {
      "collect.net.ping": ["10.0.0.1"],
      "collect.system.enabled": false,
      clock: { max_hold: "1h" },
    });
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(result.loaded.config.collect.net.ping, [{ host: "10.0.0.1", label: "10_0_0_1" }]);
    assert.equal(result.loaded.config.collect.system.enabled, false);
    assert.equal(result.loaded.config.clock.maxHoldMs, 3600_000);

    const path = join(stateDir, "overrides.json");
    assert.deepEqual(JSON.parse(readFileSync(path, "utf8")), {
      collect: { net: { ping: ["10.0.0.1"] }, system: { enabled: false } },
      clock: { max_hold: "1h" },
    });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(readFileSync(configPath), before);
    assert.deepEqual(readdirSync(home), [], "conf stayed in the state dir");

    // A second update merges into the first; the next start sees both.
    const second = await updateOverrides(result.loaded, { "collect.net.ping_count": 5 });
    assert.ok(second.ok);
    const reloaded = loadAgentConfig({ configPath, stateDir });
    assert.equal(reloaded.config.collect.net.pingCount, 5);
    assert.equal(reloaded.config.collect.system.enabled, false);
  });

  it("refuses an update that would make the config invalid, and keeps the old one", async () => {
    const loaded = loadAgentConfig({ configPath, stateDir });
    const result = await updateOverrides(loaded, {
      "collect.net.ping": ["not a host!"],
      "collect.pi.schedule": "often",
    });
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    assert.ok(
      result.problems.some((problem) =>
        problem.endsWith("/collect/net/ping/0: expected a hostname or IP address"),
      ),
    );
    assert.ok(
      result.problems.some((problem) => problem.includes("/collect/pi/schedule: expected a cron schedule")),
    );
    assert.equal(existsSync(join(stateDir, "overrides.json")), false, "nothing written");
    assert.equal(loaded.config.collect.net.ping.length, 2);
  });

  it("refuses to override the device, its key or the control channel", async () => {
    const loaded = loadAgentConfig({ configPath, stateDir });
    for (const key of ["device", "key_file", "control.public_key"]) {
      const result = await updateOverrides(loaded, { [key]: "x" });
      assert.ok(!result.ok);
      assert.match(result.problems[0] ?? "", /can only be changed in the config file on the device/);
    }
    const sneaky = await updateOverrides(loaded, { "collect.__proto__.x": 1 });
    assert.ok(!sneaky.ok);
    assert.equal(existsSync(stateDir), false);
  });

  it("delete removes the listed keys, or every override", async () => {
    const loaded = loadAgentConfig({ configPath, stateDir });
    const updated = await updateOverrides(loaded, {
      "collect.net.ping": ["10.0.0.1"],
      "collect.net.ping_count": 5,
      "log.level": "debug",
    });
    assert.ok(updated.ok);

    const removed = await deleteOverrides(updated.loaded, ["collect.net.ping", "collect.nothing"]);
    assert.ok(removed.ok);
    assert.deepEqual(removed.missing, ["collect.nothing"]);
    assert.equal(removed.loaded.config.collect.net.ping.length, 2, "back to the file's list");
    assert.equal(removed.loaded.config.collect.net.pingCount, 5);
    assert.deepEqual(JSON.parse(readFileSync(join(stateDir, "overrides.json"), "utf8")), {
      collect: { net: { ping_count: 5 } },
      log: { level: "debug" },
    });

    const cleared = await deleteOverrides(removed.loaded);
    assert.ok(cleared.ok);
    assert.deepEqual(cleared.loaded.overrides, {});
    assert.equal(cleared.loaded.config.log.level, "info");
    assert.deepEqual(JSON.parse(readFileSync(join(stateDir, "overrides.json"), "utf8")), {});
  });

  it("replaces a corrupt overrides file on the next write", async () => {
    mkdirSync(stateDir);
    writeFileSync(join(stateDir, "overrides.json"), "{ not json");
    const loaded = loadAgentConfig({ configPath, stateDir });
    const result = await updateOverrides(loaded, { "collect.net.ping_count": 4 });
    assert.ok(result.ok);
    assert.deepEqual(JSON.parse(readFileSync(join(stateDir, "overrides.json"), "utf8")), {
      collect: { net: { ping_count: 4 } },
    });
  });
});
