// The npm package's prebuilt entry: bin/main.ts and everything it reaches, bundled by esbuild into
// dist/npm/homeward.cjs (Node 20 target), which bin/homeward.js runs instead of the TypeScript
// through tsx. The agent on a Pi then pays for neither tsx nor a TypeScript compile at start-up
// (tsx alone cost ~25 MiB of RSS: BENCHMARKS.md, "Agent"). Run by `npm pack`/`npm publish`
// (the prepack script):
//
//   node --import tsx scripts/build/npm-bundle.ts
import { rmSync } from "node:fs";
import { join } from "node:path";
import { bundle, REPO_ROOT } from "./bundle.ts";

export const NPM_BUNDLE = join(REPO_ROOT, "dist/npm/homeward.cjs");

export async function buildNpmBundle(outfile: string = NPM_BUNDLE): Promise<void> {
  rmSync(outfile, { force: true });
  await bundle({ outfile, target: "node20" });
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  await buildNpmBundle();
  process.stderr.write(`build: wrote ${NPM_BUNDLE}\n`);
}
