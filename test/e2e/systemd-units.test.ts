// systemd-analyze verify (and an offline security score) for both unit files, as installed.
//
// verify checks that ExecStart's binary exists, so the units are checked inside a throwaway root
// (--root): the units in <root>/etc/systemd/system, a stand-in executable at
// <root>/usr/local/bin/homeward, /bin/kill for ExecReload, and a copy of this machine's own unit
// directory so the targets the units name (network-online.target, sysinit.target, ...) resolve.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { REPO_ROOT } from "../support/vectors.ts";
import { hasCommand } from "./support/binaries.ts";

const UNITS = ["homeward-agent.service", "homeward-server.service"];
const SYSTEM_UNIT_DIR = ["/usr/lib/systemd/system", "/lib/systemd/system"].find((dir) =>
  existsSync(join(dir, "sysinit.target")),
);

function analyze(args: string[]): { code: number | null; output: string } {
  const result = spawnSync("systemd-analyze", args, {
    encoding: "utf8",
    env: { ...process.env, SYSTEMD_PAGER: "" },
  });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

describe("systemd units", () => {
  let root: string;
  before(() => {
    if (!hasCommand("systemd-analyze")) throw new Error("systemd-analyze is missing (Debian: systemd)");
    if (!SYSTEM_UNIT_DIR) throw new Error("no systemd unit directory with sysinit.target (Debian: systemd)");
    root = mkdtempSync(join(tmpdir(), "units-verify-"));
    cpSync(SYSTEM_UNIT_DIR, join(root, "usr/lib/systemd/system"), { recursive: true, dereference: false });
    mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
    for (const unit of UNITS)
      copyFileSync(join(REPO_ROOT, "systemd", unit), join(root, "etc/systemd/system", unit));
    mkdirSync(join(root, "usr/local/bin"), { recursive: true });
    writeFileSync(join(root, "usr/local/bin/homeward"), "#!/bin/sh\nexit 0\n");
    chmodSync(join(root, "usr/local/bin/homeward"), 0o755);
    mkdirSync(join(root, "bin"), { recursive: true });
    copyFileSync(existsSync("/bin/kill") ? "/bin/kill" : "/usr/bin/kill", join(root, "bin/kill"));
    chmodSync(join(root, "bin/kill"), 0o755);
  });
  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  for (const unit of UNITS) {
    it(`${unit} passes systemd-analyze verify, without a single complaint`, () => {
      const result = analyze(["verify", `--root=${root}`, unit]);
      assert.equal(result.code, 0, result.output);
      // verify exits 0 on unknown keys and bad values too: any line about our unit is a failure.
      const ours = result.output.split("\n").filter((line) => UNITS.some((name) => line.includes(name)));
      assert.deepEqual(ours, []);
    });

    it(`${unit} is hardened: systemd-analyze security rates it 3.0 or better`, () => {
      const result = analyze([
        "security",
        "--offline=yes",
        `--root=${root}`,
        "--threshold=30",
        "--no-pager",
        unit,
      ]);
      assert.equal(result.code, 0, result.output);
      const score = /Overall exposure level for \S+: (\d+\.\d+)/.exec(result.output)?.[1];
      assert.ok(score !== undefined && Number(score) <= 3.0, `exposure ${score}\n${result.output}`);
    });
  }

  it("the agent unit asks for what the design says", () => {
    const text = readUnit("homeward-agent.service");
    for (const line of [
      "Type=notify",
      "NotifyAccess=all",
      "Restart=always",
      "LoadCredential=device.key:/etc/homeward/device.key",
      "DynamicUser=yes",
      "StateDirectory=homeward",
      "ConfigurationDirectory=homeward",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "NoNewPrivileges=yes",
      "CapabilityBoundingSet=CAP_NET_RAW",
      "AmbientCapabilities=CAP_NET_RAW",
      "ExecStart=/usr/local/bin/homeward agent --config /etc/homeward/agent.json",
    ]) {
      assert.ok(text.split("\n").includes(line), `missing: ${line}`);
    }
    assert.match(text, /^WatchdogSec=\d+s$/m);
    assert.match(text, /^MemoryMax=\d+M$/m);
  });
});

function readUnit(name: string): string {
  return readFileSync(join(REPO_ROOT, "systemd", name), "utf8");
}
