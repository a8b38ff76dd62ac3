// Benchmarks of the single executables, printed as markdown tables for BENCHMARKS.md:
//   - binary sizes, raw and xz;
//   - start-up to first output (`homeward --version`), native x64, over N runs;
//   - peak RSS of short commands (what lazy loading saves shows here);
//   - (later) the binary agent's steady RSS, once `homeward agent` exists.
//
// Usage: node --import tsx scripts/bench-binary.ts [--runs 30]
// Builds dist/ first when it is missing or stale (scripts/build-binaries, with the .xz archives).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { arch, cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildBinaries, binaryPath, DIST_DIR } from "./build/build-binaries.ts";
import { REPO_ROOT } from "./build/bundle.ts";
import { nodeBinary, TARGETS } from "./build/node-dist.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "30" } } });
const RUNS = Number(values.runs);
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] as number;
}

/** Milliseconds from spawn to the first byte on stdout. */
function timeToFirstOutput(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "ignore"] });
    let first: number | undefined;
    child.stdout.once("data", () => {
      first = Number(process.hrtime.bigint() - started) / 1e6;
    });
    child.stdout.resume();
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0 || first === undefined) reject(new Error(`${command} ${args.join(" ")}: exit ${code}`));
      else resolve(first);
    });
  });
}

/** Peak RSS in MiB of one run (the child's ru_maxrss, read through python's getrusage). */
function peakRss(command: string, args: string[]): number {
  const result = spawnSync(
    PYTHON,
    [
      "-c",
      "import resource, subprocess, sys\n" +
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)\n" +
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
      command,
      ...args,
    ],
    { encoding: "utf8" },
  );
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${result.stderr}`);
  return Number(result.stdout.trim()) / 1024;
}

async function startup(label: string, command: string, args: string[]): Promise<string> {
  await timeToFirstOutput(command, args); // warm the page cache
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) times.push(await timeToFirstOutput(command, args));
  times.sort((a, b) => a - b);
  const median = percentile(times, 0.5);
  return `| ${label} | ${RUNS} | ${percentile(times, 0).toFixed(0)} | ${median.toFixed(0)} | ${percentile(times, 0.9).toFixed(0)} |`;
}

async function main(): Promise<void> {
  await buildBinaries({ archives: true });
  const info = JSON.parse(readFileSync(join(DIST_DIR, "build-info.json"), "utf8")) as {
    version: string;
    node: string;
    bundleBytes: number;
  };
  const out: string[] = [];
  out.push(
    `homeward ${info.version}, Node ${info.node} SEA; bundle ${(info.bundleBytes / 1024).toFixed(0)} KiB; ` +
      `measured on ${cpus().length} × ${cpus()[0]?.model.trim() ?? arch()}`,
    "",
    "| binary | raw | xz |",
    "| --- | ---: | ---: |",
  );
  for (const target of TARGETS) {
    const raw = statSync(binaryPath(target)).size;
    const xz = statSync(`${binaryPath(target)}.xz`).size;
    out.push(`| homeward-${target} | ${mib(raw)} | ${mib(xz)} |`);
  }

  const x64 = binaryPath("linux-x64");
  out.push(
    "",
    "Start-up to first output, ms (spawn to the first byte of `--version` on stdout):",
    "",
    "| command | runs | min | median | p90 |",
    "| --- | ---: | ---: | ---: | ---: |",
  );
  out.push(await startup("dist/homeward-linux-x64 --version", x64, ["--version"]));
  out.push(
    await startup(
      `floor: the same Node ${info.node}, no app (node -e 'console.log(1)')`,
      nodeBinary("linux-x64"),
      ["-e", "console.log(1)"],
    ),
  );
  out.push(
    await startup(
      `npm package via tsx, Node ${process.versions.node} (bin/homeward.js --version)`,
      process.execPath,
      [join(REPO_ROOT, "bin/homeward.js"), "--version"],
    ),
  );

  out.push("", "Peak RSS, MiB (x64 binary):", "", "| command | peak RSS |", "| --- | ---: |");
  for (const args of [["--version"], ["keygen", "--help"], ["verify", "--help"], ["server", "--help"]]) {
    out.push(`| homeward ${args.join(" ")} | ${peakRss(x64, args).toFixed(1)} |`);
  }
  out.push(
    "",
    "The binary agent's steady RSS: not measured yet (`homeward agent` is not wired into bin/commands).",
  );
  process.stdout.write(`${out.join("\n")}\n`);
}

await main();
