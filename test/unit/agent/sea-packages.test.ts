// The single binary's agent bundle leaves mqtt and conf out (bin/sea-assets.ts SEA_PACKAGES): each
// is an asset of its own that bin/sea-main.ts runs at the agent's first import of it.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { SEA_ASSET_PREFIX, SEA_PACKAGES } from "../../../bin/sea-assets.ts";
import { bundle, REPO_ROOT, seaAssetPackageSource } from "../../../scripts/build/bundle.ts";

const dir = mkdtempSync(join(tmpdir(), "homeward-sea-packages-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("the agent's SEA packages", () => {
  test("the agent's bundle holds neither mqtt, conf nor their dependencies, and requires their assets lazily", async () => {
    const outfile = join(dir, "agent.cjs");
    const metafile = await bundle({
      entry: join(REPO_ROOT, "bin/agent-main.ts"),
      outfile,
      minify: false,
      seaPackages: SEA_PACKAGES,
    });
    const inputs = Object.keys(metafile.inputs);
    const packages = inputs.filter((input) =>
      /^node_modules\/(mqtt|mqtt-packet|ws|readable-stream|conf|ajv-formats|socks)\//.test(input),
    );
    assert.deepEqual(packages, []);
    const source = readFileSync(outfile, "utf8");
    for (const pkg of Object.values(SEA_PACKAGES)) {
      // Inside an __esm initialiser, run at the dynamic import() only.
      assert.match(
        source,
        new RegExp(`= __esm\\(\\{\\n[^\\n]*\\n\\s+\\w+ = require\\("${SEA_ASSET_PREFIX}${pkg.asset}"\\)`),
      );
    }
  });

  test("each asset exports what the agent imports from its package", async () => {
    const load = createRequire(import.meta.url);
    const exported: Record<string, Record<string, unknown>> = {};
    for (const [name, pkg] of Object.entries(SEA_PACKAGES)) {
      const outfile = join(dir, pkg.asset);
      await bundle({ source: seaAssetPackageSource(name, pkg), outfile });
      exported[name] = load(outfile) as Record<string, unknown>;
      for (const key of pkg.exports) assert.equal(typeof exported[name][key], "function", `${name}.${key}`);
    }
    // keepNames: mqtt's connect, and conf's class, under their own names.
    assert.equal((exported.mqtt?.connect as () => unknown).name, "connect");
    assert.equal((exported.conf?.default as () => unknown).name, "Conf");
  });
});
