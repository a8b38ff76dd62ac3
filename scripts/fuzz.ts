// `npm run fuzz`: the fuzz properties of test/fuzz/ at scale. The test files run each with a modest
// numRuns in CI; this runs a million cases and more, and prints a table for SECURITY.md.
//
//   node --import tsx scripts/fuzz.ts
//   FUZZ_RUNS=5000000 FUZZ_HTTP_RUNS=50000 FUZZ_SEED=42 FUZZ_ONLY=auth node --import tsx scripts/fuzz.ts
//
// FUZZ_RUNS       total cases over all targets (default 1,000,000), HTTP cases included
// FUZZ_HTTP_RUNS  of those, requests to a running server (default 20,000; 0 skips the server)
// FUZZ_SLOW_RUNS  trickled and stalled requests, run alongside (default 40; each takes seconds)
// FUZZ_SEED       first seed (default: random); each batch of a target uses seed + batch number
// FUZZ_ONLY       run only targets whose name contains this text
//
// The in-process targets run in batches of 10,000 (so a failure names a small seed range and the
// counts print as they go). The HTTP cases run against `homeward server` as a child process in
// front of a real carbon-cache, several requests at a time; its RSS is read from /proc before,
// at the peak (VmHWM) and after.
import fc from "fast-check";
import { startCarbon } from "../test/harness/carbon.ts";
import type { Carbon } from "../test/harness/carbon.ts";
import {
  FUZZ_METRIC,
  fuzzServerFlags,
  GoodLines,
  httpCase,
  makeFuzzKey,
  newTally,
  runHttpCase,
  slowHttpCase,
} from "../test/fuzz/http-cases.ts";
import { PURE_TARGETS } from "../test/fuzz/targets.ts";
import { spawnServerChild } from "../test/integration/load/server-process.ts";
import type { ServerChild } from "../test/integration/load/server-process.ts";

const env = process.env;
const TOTAL = Number(env.FUZZ_RUNS ?? 1_000_000);
const HTTP_RUNS = Number(env.FUZZ_HTTP_RUNS ?? 20_000);
const SLOW_RUNS = Number(env.FUZZ_SLOW_RUNS ?? 40);
const FIRST_SEED = env.FUZZ_SEED !== undefined ? Number(env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const ONLY = env.FUZZ_ONLY ?? "";
const BATCH = 10_000;
const HTTP_PARALLEL = 8;
const MiB = 1024 * 1024;

interface Row {
  name: string;
  runs: number;
  seconds: number;
  result: string;
}

function formatRow(row: Row): string {
  return `| ${row.name.padEnd(46)} | ${String(row.runs).padStart(9)} | ${row.seconds.toFixed(1).padStart(7)} | ${row.result} |`;
}

function runPureTargets(budget: number, rows: Row[]): boolean {
  const targets = PURE_TARGETS.filter((target) => target.name.includes(ONLY));
  const weights = targets.reduce((sum, target) => sum + target.weight, 0);
  let ok = true;
  for (const target of targets) {
    const runs = Math.max(1, Math.round((budget * target.weight) / weights));
    const started = performance.now();
    let done = 0;
    let result = "ok";
    for (let batch = 0; done < runs; batch++) {
      const numRuns = Math.min(BATCH, runs - done);
      const seed = FIRST_SEED + batch;
      try {
        target.check({ numRuns, seed });
      } catch (error) {
        ok = false;
        result = `FAILED (seed ${seed})`;
        console.error(
          `\n${target.name}: ${(error as Error).message}\n${String((error as Error).cause ?? "")}`,
        );
        break;
      }
      done += numRuns;
      process.stderr.write(`\r${target.name}: ${done}/${runs}`);
    }
    process.stderr.write("\n");
    rows.push({ name: target.name, runs: done, seconds: (performance.now() - started) / 1000, result });
  }
  return ok;
}

async function runHttpTarget(rows: Row[]): Promise<{ ok: boolean; memory: string }> {
  let carbon: Carbon | undefined;
  let server: ServerChild | undefined;
  const started = performance.now();
  try {
    carbon = await startCarbon();
    const key = makeFuzzKey();
    server = await spawnServerChild({
      authText: key.authText,
      carbonAddr: `127.0.0.1:${carbon.linePort}`,
      flags: fuzzServerFlags(),
      name: "fuzz-script-server",
    });
    const running = server;
    const good = new GoodLines(key.signer);
    const tally = newTally();
    const before = running.memory();
    const slow = Promise.all(
      fc
        .sample(slowHttpCase, { numRuns: SLOW_RUNS, seed: FIRST_SEED })
        .map((testCase) => runHttpCase(running.httpPort, testCase, good, tally)),
    );
    const perLane = Math.ceil(HTTP_RUNS / HTTP_PARALLEL);
    await Promise.all(
      Array.from({ length: HTTP_PARALLEL }, (_, lane) =>
        fc.assert(
          fc.asyncProperty(httpCase, async (testCase) => {
            await runHttpCase(running.httpPort, testCase, good, tally);
            running.assertRunning();
            if (tally.cases % 1000 === 0) process.stderr.write(`\rhttp ingest: ${tally.cases}/${HTTP_RUNS}`);
          }),
          { numRuns: perLane, seed: FIRST_SEED + lane, endOnFailure: true },
        ),
      ),
    );
    await slow;
    process.stderr.write("\n");
    const after = running.memory();
    const points = await carbon.waitForPoints(FUZZ_METRIC, tally.accepted, {
      from: good.base - good.made - 1,
      timeoutMs: 120_000,
    });
    if (points.length !== tally.accepted) {
      throw new Error(`${tally.accepted} good lines accepted, ${points.length} in whisper`);
    }
    const statuses = [...tally.byStatus].sort().map(([label, count]) => `${label}: ${count}`);
    console.log(`\nHTTP cases by kind and answer:\n  ${statuses.join("\n  ")}`);
    rows.push({
      name: "HTTP ingest against a running server",
      runs: tally.cases,
      seconds: (performance.now() - started) / 1000,
      result: `ok; ${tally.accepted} good lines accepted, all in whisper`,
    });
    return {
      ok: true,
      memory: `server RSS ${(before.rssBytes / MiB).toFixed(0)} MiB before, ${(after.peakBytes / MiB).toFixed(0)} MiB peak, ${(after.rssBytes / MiB).toFixed(0)} MiB after`,
    };
  } catch (error) {
    console.error(`\nHTTP ingest: ${(error as Error).message}\n${String((error as Error).cause ?? "")}`);
    rows.push({
      name: "HTTP ingest against a running server",
      runs: 0,
      seconds: (performance.now() - started) / 1000,
      result: "FAILED",
    });
    return { ok: false, memory: server ? server.proc.output().slice(-4096) : "" };
  } finally {
    await server?.stop();
    await carbon?.dispose();
  }
}

const rows: Row[] = [];
console.log(`fuzz: ${TOTAL} cases (${HTTP_RUNS} over HTTP), first seed ${FIRST_SEED}`);
let ok = runPureTargets(Math.max(0, TOTAL - HTTP_RUNS), rows);
let memory = "";
if (HTTP_RUNS > 0 && "HTTP ingest".includes(ONLY)) {
  const http = await runHttpTarget(rows);
  ok &&= http.ok;
  memory = http.memory;
}
const total = rows.reduce((sum, row) => sum + row.runs, 0);
console.log(`\n| ${"target".padEnd(46)} | ${"cases".padStart(9)} | ${"seconds".padStart(7)} | result |`);
console.log(`|${"-".repeat(48)}|${"-".repeat(11)}|${"-".repeat(9)}|--------|`);
for (const row of rows) console.log(formatRow(row));
console.log(`\ntotal: ${total} cases, first seed ${FIRST_SEED}${memory ? `; ${memory}` : ""}`);
process.exit(ok ? 0 : 1);
