// The single binary bundles every module into one file; modules a command does not use must not
// run (no top-level code, no memory): esbuild wraps lazily reached modules in __esm / __commonJS
// initialisers. This bundles bin/main.ts the way scripts/build does (unminified), records which
// initialisers run, and checks each command runs only its own.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { bundle, wrapTopLevelAwait } from "../../scripts/build/bundle.ts";
import { nodeBinary } from "../../scripts/build/node-dist.ts";

const SERVER_ONLY = /^(server-stub\/|bin\/commands\/server\.ts)/;
const AGENT_ONLY = /^(agent\/(?!status\/)|hardware\/|bin\/commands\/agent\.ts)/;
const HEAVY_PACKAGES =
  /^node_modules\/(mqtt|mqtt-packet|ws|pino|node-cron|systeminformation|prom-client|conf|ajv|yaml)\//;

/** Counts every __esm / __commonJS initialiser that runs, and prints the list on exit. */
function instrument(source: string): string {
  const esm = "function __init() {\n";
  const cjs = "function __require() {\n";
  if (!source.includes(esm) || !source.includes(cjs)) {
    throw new Error("esbuild's __esm/__commonJS helpers changed shape: update this test's instrumentation");
  }
  const [first, ...rest] = source
    .replace(esm, `${esm}  if (fn) __homewardInits.push(__getOwnPropNames(fn)[0]);\n`)
    .replace(cjs, `${cjs}  if (!mod) __homewardInits.push(__getOwnPropNames(cb)[0]);\n`)
    .split("\n");
  return [
    first, // "use strict" stays first
    'var __homewardInits = []; process.on("exit", () => require("node:fs").writeSync(2, "\\nINITS " + JSON.stringify(__homewardInits) + "\\n"));',
    ...rest,
  ].join("\n");
}

describe("lazy loading inside the bundle", () => {
  let dir: string;
  let script: string;
  let node: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "homeward-bundle-"));
    const plain = join(dir, "plain.cjs");
    await bundle({ outfile: plain, minify: false });
    script = join(dir, "instrumented.cjs");
    writeFileSync(script, instrument(readFileSync(plain, "utf8")));
    node = nodeBinary("linux-x64"); // the Node 24 the binaries are made of (cached in build/)
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function inits(args: string[]): string[] {
    const result = spawnSync(node, [script, ...args], { cwd: dir, encoding: "utf8", timeout: 60_000 });
    const line = result.stderr.split("\n").find((text) => text.startsWith("INITS "));
    assert.ok(line, `no INITS line: ${result.stderr}`);
    return JSON.parse(line.slice("INITS ".length)) as string[];
  }

  it("--version runs nothing but the command table", () => {
    // package.json: bin/main.ts reads the version from it (an object literal in the bundle).
    assert.deepEqual(inits(["--version"]), ["package.json", "bin/cli.ts"]);
  });

  it("keygen and sign load the protocol and tweetnacl, not the server, the agent or heavy packages", () => {
    for (const command of ["keygen", "sign"]) {
      const loaded = inits([command, "--help"]);
      assert.ok(loaded.includes(`bin/commands/${command}.ts`), loaded.join(" "));
      const unexpected = loaded.filter(
        (name) => SERVER_ONLY.test(name) || AGENT_ONLY.test(name) || HEAVY_PACKAGES.test(name),
      );
      assert.deepEqual(unexpected, [], command);
    }
  });

  it("server loads the server, and none of the agent nor mqtt", () => {
    const loaded = inits(["server", "--help"]);
    assert.ok(loaded.includes("server-stub/main.ts"), loaded.join(" "));
    assert.deepEqual(
      loaded.filter((name) => AGENT_ONLY.test(name) || /^node_modules\/mqtt/.test(name)),
      [],
    );
  });

  it("agent loads none of the server, nor mqtt until it is configured", () => {
    const loaded = inits(["agent", "--help"]);
    assert.deepEqual(
      loaded.filter((name) => SERVER_ONLY.test(name) || /^node_modules\/mqtt/.test(name)),
      [],
    );
  });
});

describe("wrapTopLevelAwait (CommonJS has no top-level await)", () => {
  it("moves everything but the imports into an async function", () => {
    const source =
      'import a from "a";\nimport {\n  b,\n} from "b";\nconst x = await a(b);\nprocess.exitCode = x;\n';
    const wrapped = wrapTopLevelAwait(source);
    assert.match(wrapped, /^import a from "a";\nimport \{\n {2}b,\n\} from "b";\nvoid \(async \(\) => \{\n/);
    assert.match(wrapped, /const x = await a\(b\);\nprocess.exitCode = x;/);
    assert.match(wrapped, /\}\)\(\)\.catch\(/);
  });

  it("leaves a module without await alone, and refuses one with exports", () => {
    assert.equal(wrapTopLevelAwait("const x = 1;\n"), "const x = 1;\n");
    assert.throws(() => wrapTopLevelAwait("export const x = await 1;\n"), /exports/);
  });
});
