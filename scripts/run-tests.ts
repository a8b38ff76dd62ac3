// Node 20's test runner has no glob support, so this collects test files itself and hands them
// to `node --test` in one run (one summary, one exit code).
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const roots = process.argv.slice(2);
const searchRoots = roots.length > 0 ? roots : ["test"];

function collect(dir: string): string[] {
  const entries = readdirSync(join(root, dir), { recursive: true, withFileTypes: false }) as string[];
  return entries
    .filter((entry) => entry.endsWith(".test.ts"))
    .map((entry) => relative(root, join(root, dir, entry)))
    .sort();
}

const files = searchRoots.flatMap((entry) => (entry.endsWith(".test.ts") ? [entry] : collect(entry)));
if (files.length === 0) {
  console.error(`run-tests: no *.test.ts files under ${searchRoots.join(", ")}`);
  process.exit(1);
}

const concurrency = process.env.HOMEWARD_TEST_CONCURRENCY ?? "1";
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", `--test-concurrency=${concurrency}`, "--test-reporter=spec", ...files],
  { cwd: root, stdio: "inherit" },
);
process.exit(result.status ?? 1);
