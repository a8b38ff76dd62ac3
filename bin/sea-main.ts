// The single executable's main script (scripts/build/build-binaries.ts). The binary carries two
// bundles as SEA assets: the whole command (bin/main.ts) and the agent alone (bin/agent-main.ts).
// This picks one and runs it as the CommonJS module it was bundled as, so `homeward agent`, which
// runs for months, keeps only the agent's source in V8 and touches only its pages of the blob
// (BENCHMARKS.md, "Agent"). The agent's bundle leaves mqtt and conf out (SEA_PACKAGES): it requires
// them as `homeward-sea-asset:<asset>`, and they are compiled and run only then. Only ever run
// bundled inside the binary.
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { getRawAsset } from "node:sea";
import { compileFunction } from "node:vm";
import { SEA_ASSET_PREFIX, SEA_ASSETS } from "./sea-assets.ts";

// Builtins only, as for any SEA main script.
const builtins = createRequire(process.execPath);
const assets = new Map<string, unknown>();

/** Runs one bundled asset as a CommonJS module and returns its exports. */
function runAsset(name: string): unknown {
  // A view of the blob in the executable's mapping (no copy); the bundle is ASCII (esbuild escapes
  // the rest), so V8 keeps it as a one-byte string.
  const source = Buffer.from(getRawAsset(name) as ArrayBuffer).toString("utf8");
  const run = compileFunction(source, ["exports", "require", "module", "__filename", "__dirname"], {
    filename: `homeward:${name}`,
  });
  const module = { exports: {} };
  // __filename is the executable, as it was when the whole bundle was the main script
  // (import.meta.url in the bundle derives from it).
  run(module.exports, requireInBinary, module, process.execPath, dirname(process.execPath));
  return module.exports;
}

/**
 * A builtin, or an asset the agent's bundle left out (each run once); `main`, `resolve` and `cache`
 * are the builtins' require's, as before there were assets to require.
 */
const requireInBinary: NodeJS.Require = Object.assign(
  (id: string): unknown => {
    if (!id.startsWith(SEA_ASSET_PREFIX)) return builtins(id);
    const name = id.slice(SEA_ASSET_PREFIX.length);
    if (!assets.has(name)) assets.set(name, runAsset(name));
    return assets.get(name);
  },
  { main: builtins.main, resolve: builtins.resolve, cache: builtins.cache, extensions: builtins.extensions },
);

runAsset(process.argv[2] === "agent" ? SEA_ASSETS.agent : SEA_ASSETS.cli);
