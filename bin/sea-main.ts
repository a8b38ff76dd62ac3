// The single executable's main script (scripts/build/build-binaries.ts). The binary carries two
// bundles as SEA assets: the whole command (bin/main.ts) and the agent alone (bin/agent-main.ts).
// This picks one and runs it as the CommonJS module it was bundled as, so `homeward agent`, which
// runs for months, keeps only the agent's source in V8 and touches only its pages of the blob
// (BENCHMARKS.md, "Agent"). Only ever run bundled inside the binary.
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { getRawAsset } from "node:sea";
import { compileFunction } from "node:vm";
import { SEA_ASSETS } from "./sea-assets.ts";

const name = process.argv[2] === "agent" ? SEA_ASSETS.agent : SEA_ASSETS.cli;
// A view of the blob in the executable's mapping (no copy); the bundle is ASCII (esbuild escapes
// the rest), so V8 keeps it as a one-byte string.
const source = Buffer.from(getRawAsset(name) as ArrayBuffer).toString("utf8");
const run = compileFunction(source, ["exports", "require", "module", "__filename", "__dirname"], {
  filename: `homeward:${name}`,
});
const module = { exports: {} };
// Builtins only, as for any SEA main script; __filename is the executable, as it was when the whole
// bundle was the main script (import.meta.url in the bundle derives from it).
run(module.exports, createRequire(process.execPath), module, process.execPath, dirname(process.execPath));
