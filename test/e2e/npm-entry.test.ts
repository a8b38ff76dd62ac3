// bin/homeward.js, the npm entry: an installed package runs the prebuilt bundle
// (dist/npm/homeward.cjs, scripts/build/npm-bundle.ts), a git checkout the TypeScript through tsx.
// Both must behave the same; the rest of the suite runs the tsx path (test/support/cli.ts).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { REPO_ROOT } from "../../scripts/build/bundle.ts";
import { buildNpmBundle, NPM_BUNDLE } from "../../scripts/build/npm-bundle.ts";

describe("the npm entry point", () => {
  let dir: string;
  let probe: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "homeward-npm-entry-"));
    // Says on exit whether the bundle ran (it is the one CommonJS module named homeward.cjs).
    probe = join(dir, "probe.cjs");
    writeFileSync(
      probe,
      'process.on("exit", () => require("node:fs").writeSync(2, "\\nPROBE " + JSON.stringify({ bundle: ' +
        'Object.keys(require.cache).some((key) => key.endsWith("homeward.cjs")) }) + "\\n"));\n',
    );
    await buildNpmBundle();
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(NPM_BUNDLE, { force: true });
  });

  function run(runner: string, args: string[]): { stdout: string; probe: { bundle: boolean } } {
    const result = spawnSync(
      process.execPath,
      ["--require", probe, join(REPO_ROOT, "bin/homeward.js"), ...args],
      {
        cwd: dir,
        encoding: "utf8",
        env: { ...process.env, HOMEWARD_RUNNER: runner },
        timeout: 60_000,
      },
    );
    const line = result.stderr.split("\n").find((text) => text.startsWith("PROBE "));
    assert.ok(line, result.stderr);
    return { stdout: result.stdout, probe: JSON.parse(line.slice("PROBE ".length)) as { bundle: boolean } };
  }

  it("runs the bundle or tsx as asked, with the same results", () => {
    for (const args of [["--version"], ["agent", "--help"], ["sign", "--help"]]) {
      const bundled = run("bundle", args);
      const sources = run("tsx", args);
      assert.equal(bundled.probe.bundle, true, args.join(" "));
      assert.equal(sources.probe.bundle, false, args.join(" "));
      assert.equal(bundled.stdout, sources.stdout, args.join(" "));
    }
  });

  it("signs the same line either way (the agent's crypto, from the bundle)", () => {
    const keyFile = join(dir, "device.key");
    const keygen = spawnSync(
      process.execPath,
      [join(REPO_ROOT, "bin/homeward.js"), "keygen", "--name", "npm-entry", "--out", keyFile],
      { cwd: dir, encoding: "utf8", env: { ...process.env, HOMEWARD_RUNNER: "bundle" } },
    );
    assert.equal(keygen.status, 0, keygen.stderr);
    const line = "a.b 1 1700000000 npm-entry";
    const sign = (runner: string): string =>
      spawnSync(process.execPath, [join(REPO_ROOT, "bin/homeward.js"), "sign", "--key-file", keyFile, line], {
        cwd: dir,
        encoding: "utf8",
        env: { ...process.env, HOMEWARD_RUNNER: runner },
      }).stdout;
    assert.notEqual(sign("bundle"), "");
    assert.equal(sign("bundle"), sign("tsx"));
  });
});
