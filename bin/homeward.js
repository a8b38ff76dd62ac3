#!/usr/bin/env node
// The npm entry point. An installed package runs dist/npm/homeward.cjs, the whole command bundled
// ahead of time (scripts/build/npm-bundle.ts, run on `npm pack`): no tsx and no TypeScript compile
// in a long-running agent. A git checkout, or a package without the bundle, runs the TypeScript
// sources through tsx, so a checkout never runs a stale bundle. HOMEWARD_RUNNER=bundle or =tsx
// picks one explicitly. (The single binary bundles bin/main.ts itself: scripts/build-binaries.)
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, URL } from "node:url";

const bundle = new URL("../dist/npm/homeward.cjs", import.meta.url);
const checkout = existsSync(new URL("../.git", import.meta.url));
const runner = process.env.HOMEWARD_RUNNER ?? (existsSync(bundle) && !checkout ? "bundle" : "tsx");

if (runner === "bundle") {
  createRequire(import.meta.url)(fileURLToPath(bundle));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("./main.ts");
}
