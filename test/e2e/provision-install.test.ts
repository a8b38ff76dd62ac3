// homeward provision, then install.sh against a temporary root (DESTDIR), twice: the files land with
// the right owners and modes, and the second run changes nothing. Then uninstall.sh.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { runHomeward } from "../support/cli.ts";
import { REPO_ROOT } from "../support/vectors.ts";

const IS_ROOT = process.getuid?.() === 0;

/** Every path under root with its type, mode, owner and (for files) sha256: what "changed" means. */
function listing(root: string): string[] {
  const lines: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const stat = lstatSync(path);
      const mode = (stat.mode & 0o7777).toString(8).padStart(4, "0");
      const hash = stat.isFile() ? createHash("sha256").update(readFileSync(path)).digest("hex") : "-";
      lines.push(
        `${relative(root, path)} ${stat.isDirectory() ? "d" : "f"} ${mode} ${stat.uid}:${stat.gid} ${stat.ino} ${hash}`,
      );
      if (stat.isDirectory()) walk(path);
    }
  };
  walk(root);
  return lines;
}

function sh(script: string, args: string[], env: NodeJS.ProcessEnv): { code: number | null; out: string } {
  const result = spawnSync("sh", [script, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  return { code: result.status, out: `${result.stdout}${result.stderr}` };
}

describe("homeward provision + install.sh", () => {
  let dir: string;
  let folder: string;
  let authFile: string;
  let fakeBinary: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "homeward-provision-"));
    folder = join(dir, "grandma-pi");
    authFile = join(dir, "auth.yaml");
    writeFileSync(
      authFile,
      "# the owner's file\napikeys:\n  my_public_key:   # amproxy, unchanged\n    secret_key: my_secret_key\n    metrics: [metric1, metric2]\n",
    );
    chmodSync(authFile, 0o640);
    fakeBinary = join(dir, "homeward-linux-arm64");
    writeFileSync(fakeBinary, "#!/bin/sh\necho 'homeward 0.0.0-fake'\n");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("writes the key (0600), agent.json, the unit and the scripts, and appends the auth entry", async () => {
    const result = await runHomeward([
      "provision",
      "--device",
      "grandma-pi",
      "--server",
      "https://metrics.example.org",
      "--out",
      folder,
      "--auth-file",
      authFile,
      "--binary",
      fakeBinary,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const modes = Object.fromEntries(
      readdirSync(folder).map((name) => [name, (statSync(join(folder, name)).mode & 0o777).toString(8)]),
    );
    assert.deepEqual(modes, {
      "agent.json": "644",
      "device.key": "600",
      "homeward-agent.service": "644",
      "homeward-linux-arm64": "755",
      "install.sh": "755",
      "uninstall.sh": "755",
    });
    assert.deepEqual(JSON.parse(readFileSync(join(folder, "agent.json"), "utf8")), {
      device: "grandma-pi",
      key_file: "/etc/homeward/device.key",
      server: { url: "https://metrics.example.org" },
    });
    assert.equal(
      readFileSync(join(folder, "homeward-agent.service"), "utf8"),
      readFileSync(join(REPO_ROOT, "systemd/homeward-agent.service"), "utf8"),
    );
    const key = JSON.parse(readFileSync(join(folder, "device.key"), "utf8")) as {
      key_id: string;
      public_key: string;
    };
    assert.equal(key.key_id, "grandma-pi");
    assert.match(result.stdout, new RegExp(`ed25519: ${key.public_key.replace(/[+/]/g, "\\$&")}`));

    const auth = readFileSync(authFile, "utf8");
    assert.ok(
      auth.startsWith("# the owner's file\napikeys:\n  my_public_key:   # amproxy, unchanged\n"),
      auth,
    );
    assert.deepEqual(parse(auth).apikeys["grandma-pi"], {
      ed25519: key.public_key,
      metrics: ["homeward.grandma-pi.**"],
    });
    assert.equal(statSync(authFile).mode & 0o777, 0o640, "the auth file keeps its mode");
  });

  it("run again: keeps the key and leaves the auth file alone; another key for the device is refused", async () => {
    const keyBefore = readFileSync(join(folder, "device.key"), "utf8");
    const authBefore = readFileSync(authFile, "utf8");
    const again = await runHomeward([
      "provision",
      "--device",
      "grandma-pi",
      "--server",
      "https://metrics.example.org",
      "--out",
      folder,
      "--auth-file",
      authFile,
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(readFileSync(join(folder, "device.key"), "utf8"), keyBefore);
    assert.equal(readFileSync(authFile, "utf8"), authBefore);
    assert.match(again.stderr, /unchanged/);

    const other = join(dir, "other");
    const clash = await runHomeward([
      "provision",
      "--device",
      "grandma-pi",
      "--server",
      "https://metrics.example.org",
      "--out",
      other,
      "--auth-file",
      authFile,
    ]);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /already has an entry for "grandma-pi" with another key/);
    assert.equal(existsSync(other), false, "nothing written when the auth file refuses");
    assert.equal(readFileSync(authFile, "utf8"), authBefore);
  });

  it("adds to a JSON auth file as JSON", async () => {
    const jsonAuth = join(dir, "auth.json");
    writeFileSync(jsonAuth, JSON.stringify({ apikeys: { k: { secret_key: "s", metrics: ["m"] } } }));
    const result = await runHomeward([
      "provision",
      "--device",
      "aunt-pi",
      "--server",
      "tls://metrics.example.org:2006",
      "--out",
      join(dir, "aunt"),
      "--auth-file",
      jsonAuth,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const data = JSON.parse(readFileSync(jsonAuth, "utf8")) as {
      apikeys: Record<string, { metrics: string[] }>;
    };
    assert.deepEqual(Object.keys(data.apikeys), ["k", "aunt-pi"]);
    assert.deepEqual(data.apikeys["aunt-pi"]?.metrics, ["homeward.aunt-pi.**"]);
  });

  it("refuses a bad device name or server URL", async () => {
    const badName = await runHomeward([
      "provision",
      "--device",
      "a.b",
      "--server",
      "https://x.org",
      "--out",
      join(dir, "x"),
    ]);
    assert.equal(badName.code, 2);
    const badUrl = await runHomeward([
      "provision",
      "--device",
      "ab",
      "--server",
      "ftp://x.org",
      "--out",
      join(dir, "x"),
    ]);
    assert.equal(badUrl.code, 2);
    assert.match(badUrl.stderr, /server\/url/);
  });

  it("install.sh lays the files out with the right owners and modes, and a second run changes nothing", () => {
    const root = join(dir, "root");
    const first = sh(join(folder, "install.sh"), [], { DESTDIR: root });
    assert.equal(first.code, 0, first.out);
    const owner = IS_ROOT ? "0:0" : `${process.getuid?.()}:${process.getgid?.()}`;
    const expected: Record<string, string> = {
      "usr/local/bin/homeward": "f 0755",
      "etc/homeward": "d 0755",
      "etc/homeward/agent.json": "f 0644",
      "etc/homeward/device.key": "f 0600",
      "etc/systemd/system/homeward-agent.service": "f 0644",
    };
    const afterFirst = listing(root);
    for (const [path, typeMode] of Object.entries(expected)) {
      const line = afterFirst.find((entry) => entry.startsWith(`${path} `));
      assert.ok(line, `${path} is missing:\n${afterFirst.join("\n")}`);
      assert.ok(line.startsWith(`${path} ${typeMode} ${owner} `), line);
    }
    assert.equal(
      readFileSync(join(root, "etc/homeward/device.key"), "utf8"),
      readFileSync(join(folder, "device.key"), "utf8"),
    );
    assert.equal(
      readFileSync(join(root, "usr/local/bin/homeward"), "utf8"),
      readFileSync(fakeBinary, "utf8"),
    );

    const second = sh(join(folder, "install.sh"), [], { DESTDIR: root });
    assert.equal(second.code, 0, second.out);
    assert.doesNotMatch(second.out, /installed \/|fixed/);
    assert.deepEqual(listing(root), afterFirst, "the second run changed something");

    // A mode changed by hand is put back; a changed config is reinstalled.
    chmodSync(join(root, "etc/homeward/device.key"), 0o644);
    const third = sh(join(folder, "install.sh"), [], { DESTDIR: root });
    assert.match(third.out, /fixed the owner and mode of \/etc\/homeward\/device.key/);
    assert.equal(statSync(join(root, "etc/homeward/device.key")).mode & 0o777, 0o600);
  });

  it("install.sh --remove-key deletes the folder's copy once installed, and still runs after that", () => {
    const root = join(dir, "root2");
    const copy = join(dir, "copy");
    spawnSync("cp", ["-a", folder, copy]);
    const first = sh(join(copy, "install.sh"), ["--remove-key"], { DESTDIR: root });
    assert.equal(first.code, 0, first.out);
    assert.equal(existsSync(join(copy, "device.key")), false);
    assert.equal(statSync(join(root, "etc/homeward/device.key")).mode & 0o777, 0o600);
    const before = listing(root);
    const again = sh(join(copy, "install.sh"), [], { DESTDIR: root });
    assert.equal(again.code, 0, again.out);
    assert.deepEqual(listing(root), before);
  });

  it("uninstall.sh removes what install.sh put there, and keeps /var/lib/homeward unless --purge", () => {
    const root = join(dir, "root");
    const state = join(root, "var/lib/homeward");
    spawnSync("mkdir", ["-p", state]);
    writeFileSync(join(state, "buffer"), "x");
    const result = sh(join(folder, "uninstall.sh"), [], { DESTDIR: root });
    assert.equal(result.code, 0, result.out);
    for (const path of [
      "usr/local/bin/homeward",
      "etc/homeward",
      "etc/systemd/system/homeward-agent.service",
    ]) {
      assert.equal(existsSync(join(root, path)), false, `${path} is still there`);
    }
    assert.equal(existsSync(join(state, "buffer")), true);
    const purge = sh(join(folder, "uninstall.sh"), ["--purge"], { DESTDIR: root });
    assert.equal(purge.code, 0, purge.out);
    assert.equal(existsSync(state), false);
  });
});
