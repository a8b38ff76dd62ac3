// The agent's steady footprint with the default config, for BENCHMARKS.md:
//   - RSS and CPU of `homeward agent` (run through tsx on this Node, and the bundled binary when
//     dist/ has it) against a bare Node process that stays alive on the same Node;
//   - where the tsx-run agent's RSS goes (the loader, the heavier packages);
//   - bytes the agent writes to disk per line shipped, steady state;
//   - the disk buffer's append and replay rates and bytes written per line (scripts/bench-queue.ts).
// Targets (issue 4): RSS <= 1.35x bare node; CPU <= 1 % of a core at 10 s schedules.
//
// The agent ships to a local counting server (accepts every line, checks nothing). Its config is
// the default one (system and pi every 10 s, net and self every minute) except for the server URL,
// and pi and net reading fixture trees (test/fixtures/hosts/): pi sees a Pi 4's sysfs, and net finds
// no default route and no Wi-Fi, so nothing leaves this machine.
//
// Usage: node --import tsx scripts/bench-agent.ts [--warmup 20] [--seconds 60] [--queue-lines 200000]
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { parseArgs } from "node:util";
import { gunzipSync } from "node:zlib";
import { writeKeyFile } from "../protocol/key-file.ts";
import { generateEd25519KeyPair } from "../protocol/keys.ts";
import { bundle, REPO_ROOT } from "./build/bundle.ts";
import { nodeBinary } from "./build/node-dist.ts";

const { values } = parseArgs({
  options: {
    warmup: { type: "string", default: "20" },
    seconds: { type: "string", default: "60" },
    "queue-lines": { type: "string", default: "200000" },
  },
});
const WARMUP_S = Number(values.warmup);
const SECONDS = Number(values.seconds);
const QUEUE_LINES = Number(values["queue-lines"]);
const CLK_TCK = 100;
const MAIN = join(REPO_ROOT, "bin/main.ts");
const BINARY = join(REPO_ROOT, "dist/homeward-linux-x64");
const KEEP_ALIVE = "setInterval(() => {}, 1 << 30)";

const work = mkdtempSync(join(tmpdir(), "homeward-bench-agent-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

// ---- the sink ---------------------------------------------------------------------------------

/** Lines received, by key id (each agent has its own). */
const received = new Map<string, number>();
const sink = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    const raw = Buffer.concat(chunks);
    const body = request.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
    const lines = body
      .toString("utf8")
      .split("\n")
      .filter((line) => line.length > 0);
    for (const line of lines) {
      const key = line.split(" ")[3] ?? "";
      received.set(key, (received.get(key) ?? 0) + 1);
    }
    const count = lines.length;
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ accepted: count, rejected: {}, errors: [] }));
  });
});
await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;

// ---- processes and /proc ------------------------------------------------------------------------

interface Measured {
  readonly name: string;
  readonly node: string;
  readonly rssMedian: number;
  readonly rssMax: number;
  readonly cpuPercent: number;
  readonly writeBytes: number;
  readonly lines: number;
}

function procStatus(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? Number.NaN) * 1024;
}

/** utime + stime, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function writeBytes(pid: number): number {
  const match = /^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"));
  return Number(match?.[1] ?? 0);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function start(command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString("utf8")).slice(-8192);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("exit", (code, signal) => {
    if (signal !== "SIGTERM" && signal !== "SIGKILL" && code !== 0) {
      console.error(`${command} ${args.join(" ")} exited (${code ?? signal}):\n${output}`);
    }
  });
  return child;
}

/** Samples a running process once a second for SECONDS, after WARMUP_S. */
async function measure(
  name: string,
  node: string,
  child: ChildProcess,
  lines: () => number,
): Promise<Measured> {
  const pid = child.pid as number;
  await delay(WARMUP_S * 1000);
  if (child.exitCode !== null) throw new Error(`${name} exited during the warm-up`);
  const rss: number[] = [];
  const cpu0 = cpuSeconds(pid);
  const write0 = writeBytes(pid);
  const lines0 = lines();
  const started = performance.now();
  for (let second = 0; second < SECONDS; second++) {
    rss.push(procStatus(pid, "VmRSS"));
    await delay(1000);
  }
  const elapsed = (performance.now() - started) / 1000;
  const result: Measured = {
    name,
    node,
    rssMedian: median(rss),
    rssMax: Math.max(...rss),
    cpuPercent: ((cpuSeconds(pid) - cpu0) / elapsed) * 100,
    writeBytes: writeBytes(pid) - write0,
    lines: lines() - lines0,
  };
  child.kill("SIGTERM");
  return result;
}

function nodeVersion(node: string): string {
  return spawnSync(node, ["--version"], { encoding: "utf8" }).stdout.trim();
}

// ---- the agent's setup ---------------------------------------------------------------------------

/** A key, a default config pointing at the sink, and a state dir; returns the agent's arguments. */
function agentArgs(name: string): string[] {
  const dir = join(work, name);
  const keyFile = join(dir, "device.key");
  spawnSync("mkdir", ["-p", join(dir, "state")]);
  const pair = generateEd25519KeyPair();
  writeKeyFile(keyFile, {
    keyId: name,
    algorithm: "ed25519",
    secret: pair.secretKey,
    publicKey: pair.publicKey,
  });
  const config = join(dir, "agent.json");
  writeFileSync(
    config,
    JSON.stringify({
      device: name,
      key_file: keyFile,
      server: { url: sinkUrl },
      collect: {
        pi: { root: join(REPO_ROOT, "test/fixtures/hosts/pi4-bookworm") },
        net: { root: join(REPO_ROOT, "test/fixtures/hosts/bare") },
      },
    }),
  );
  return ["agent", "--config", config, "--state-dir", join(dir, "state")];
}

// ---- runs --------------------------------------------------------------------------------------

const node20 = process.execPath;
const node24 = (() => {
  try {
    return nodeBinary("linux-x64");
  } catch {
    return undefined;
  }
})();
const haveBinary = existsSync(BINARY);

// The agent as the binary runs it (one esbuild bundle, no tsx), on this Node, and with V8 and
// glibc settings that trade a little CPU for memory: what would bring the RSS down.
const bundled = join(work, "homeward.cjs");
await bundle({ outfile: bundled, minify: true });
const LEAN_FLAGS = ["--optimize-for-size", "--max-semi-space-size=1"];
const LITE_FLAGS = ["--lite-mode", "--no-expose-wasm", "--max-semi-space-size=1"];
const FEW_ARENAS = { MALLOC_ARENA_MAX: "2" };

const runs: Promise<Measured>[] = [];
const none = (): number => 0;
const linesOf = (key: string) => (): number => received.get(key) ?? 0;
const node20Version = nodeVersion(node20);
const agentRun = (
  name: string,
  key: string,
  command: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
): void => {
  runs.push(
    measure(
      name,
      command === BINARY ? "v24 (in the binary)" : nodeVersion(command),
      start(command, [...args, ...agentArgs(key)], env),
      linesOf(key),
    ),
  );
};
runs.push(measure("bare `node -e` (stays alive)", node20Version, start(node20, ["-e", KEEP_ALIVE]), none));
agentRun("`homeward agent` via tsx (`npx homeward`)", "bench-tsx", node20, ["--import", "tsx", MAIN]);
agentRun("`homeward agent`, bundled (no tsx)", "bench-bundle", node20, [bundled]);
agentRun(`bundled, \`${LEAN_FLAGS.join(" ")}\``, "bench-lean", node20, [...LEAN_FLAGS, bundled]);
agentRun(
  `bundled, \`${LITE_FLAGS.join(" ")}\`, MALLOC_ARENA_MAX=2`,
  "bench-lite",
  node20,
  [...LITE_FLAGS, bundled],
  FEW_ARENAS,
);
if (node24) {
  runs.push(
    measure("bare `node -e` (stays alive)", nodeVersion(node24), start(node24, ["-e", KEEP_ALIVE]), none),
  );
}
if (haveBinary) {
  agentRun("`homeward agent`, dist/homeward-linux-x64", "bench-bin", BINARY, []);
  // NODE_OPTIONS is the one way in for flags without rebuilding; it takes --max-semi-space-size
  // (not --optimize-for-size or --lite-mode).
  agentRun(
    "dist/homeward-linux-x64, NODE_OPTIONS=--max-semi-space-size=1, MALLOC_ARENA_MAX=2",
    "bench-bin-lean",
    BINARY,
    [],
    {
      NODE_OPTIONS: "--max-semi-space-size=1",
      ...FEW_ARENAS,
    },
  );
}

// Where the tsx-run agent's memory goes: one process per layer, each measured after it settles.
const layers: [string, string[]][] = [
  ["bare node", ["-e", KEEP_ALIVE]],
  ["node --import tsx", ["--import", "tsx", "-e", KEEP_ALIVE]],
  ["node + pino", ["--input-type=module", "-e", `import "pino"; ${KEEP_ALIVE}`]],
  ["node + ajv (2020 build)", ["--input-type=module", "-e", `import "ajv/dist/2020.js"; ${KEEP_ALIVE}`]],
  ["node + node-cron", ["--input-type=module", "-e", `import "node-cron"; ${KEEP_ALIVE}`]],
  [
    "node + pino + ajv + node-cron + yaml",
    [
      "--input-type=module",
      "-e",
      `import "pino"; import "ajv/dist/2020.js"; import "node-cron"; import "yaml"; ${KEEP_ALIVE}`,
    ],
  ],
];
const layerResults = await Promise.all(
  layers.map(async ([name, args]) => {
    const child = start(node20, args);
    await delay(4000);
    const rss = procStatus(child.pid as number, "VmRSS");
    child.kill("SIGTERM");
    return [name, rss] as const;
  }),
);

const results = await Promise.all(runs);
sink.close();
sink.closeAllConnections();

// ---- report ------------------------------------------------------------------------------------

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
const cpuModel = cpus()[0]?.model ?? "unknown CPU";
console.log(
  `Agent steady state, default config (system and pi every 10 s, net and self every minute), shipping to a local sink. ` +
    `${SECONDS} s measured after ${WARMUP_S} s of warm-up; ${cpuModel}, ${cpus().length} cores.\n`,
);
console.log("| process | Node | RSS median MiB | RSS max MiB | × bare node | CPU % of a core |");
console.log("|---|---|---:|---:|---:|---:|");
for (const result of results) {
  const bare = results.find(
    (other) =>
      other.name.startsWith("bare") &&
      (other.node === result.node || (result.node.startsWith("v24") && other.node.startsWith("v24"))),
  );
  const ratio = bare ? (result.rssMedian / bare.rssMedian).toFixed(2) : "–";
  console.log(
    `| ${result.name} | ${result.node} | ${mib(result.rssMedian)} | ${mib(result.rssMax)} | ${ratio}× | ${result.cpuPercent.toFixed(2)} |`,
  );
}
if (!node24)
  console.log("\n(no Node 24 in build/cache: run `npm run build:binaries` for the bare Node 24 row)");
if (!haveBinary)
  console.log("\n(dist/homeward-linux-x64 is not built: run `npm run build:binaries` for its row)");

console.log(
  `\nWhere the tsx-run agent's RSS goes (Node ${nodeVersion(node20)}, each a separate process, 4 s after start):\n`,
);
console.log("| process | RSS MiB |");
console.log("|---|---:|");
for (const [name, rss] of layerResults) console.log(`| ${name} | ${mib(rss)} |`);

const agentRows = results.filter((result) => result.name.includes("agent"));
console.log(`\nDisk writes by the agents in the ${SECONDS} s window (/proc/<pid>/io write_bytes):\n`);
console.log("| process | lines shipped | bytes written | bytes per line |");
console.log("|---|---:|---:|---:|");
for (const result of agentRows) {
  const perLine = result.lines > 0 ? (result.writeBytes / result.lines).toFixed(1) : "–";
  console.log(`| ${result.name} | ${result.lines} | ${result.writeBytes} | ${perLine} |`);
}

console.log(`\nDisk buffer (scripts/bench-queue.ts ${QUEUE_LINES}):\n`);
const queue = spawnSync(
  node20,
  ["--import", "tsx", join(REPO_ROOT, "scripts/bench-queue.ts"), String(QUEUE_LINES)],
  {
    cwd: REPO_ROOT,
    encoding: "utf8",
  },
);
process.stdout.write(queue.stdout);
if (queue.status !== 0) console.error(queue.stderr);
