// Node 20's test runner has no glob support, so this collects test files itself and hands them
// to `node --test` in one run (one summary, one exit code).
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
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
// Every log of the run goes under one directory (test/harness/test-logs.ts); the secret scan reads
// it after every other test file has run.
const logDir =
  process.env.HOMEWARD_TEST_LOG_DIR ??
  join(tmpdir(), "homeward-test-logs", `${new Date().toISOString().replace(/[:.]/g, "-")}-${process.pid}`);
mkdirSync(logDir, { recursive: true, mode: 0o700 });
const SECRET_SCAN = "test/integration/secrets/secret-scan.test.ts";

function run(list: readonly string[]): number {
  if (list.length === 0) return 0;
  const result = spawnSync(
    process.execPath,
    ["--import", "tsx", "--test", `--test-concurrency=${concurrency}`, "--test-reporter=spec", ...list],
    { cwd: root, stdio: "inherit", env: { ...process.env, HOMEWARD_TEST_LOG_DIR: logDir } },
  );
  return result.status ?? 1;
}

const status = run(files.filter((file) => file !== SECRET_SCAN));
const scan = run(files.filter((file) => file === SECRET_SCAN));
if (status === 0 && scan === 0) rmSync(logDir, { recursive: true, force: true });
else console.error(`run-tests: logs kept in ${logDir}`);
process.exit(status || scan);
