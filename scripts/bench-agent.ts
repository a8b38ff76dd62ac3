// The agent's steady footprint with the default config, for BENCHMARKS.md:
//   - RSS (anonymous and file-backed) and CPU of `homeward agent` in the forms it is deployed in,
//     against a bare Node process that stays alive on the same Node, all in the same run:
//     the npm package as installed (bin/homeward.js running dist/npm/homeward.cjs, on this Node),
//     the same from a git checkout (tsx), and dist/homeward-linux-x64 with the environment
//     systemd/homeward-agent.service gives it; plus rows without the agent's V8 settings
//     (HOMEWARD_AGENT_V8=default) or the unit's malloc settings, to show what each buys;
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
import { AGENT_V8_ENV } from "../bin/agent-v8.ts";
import { REPO_ROOT } from "./build/bundle.ts";
import { nodeBinary } from "./build/node-dist.ts";
import { buildNpmBundle } from "./build/npm-bundle.ts";
import { dropFromPageCache } from "./build/page-cache.ts";

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
const NPM_ENTRY = join(REPO_ROOT, "bin/homeward.js");
const UNIT = join(REPO_ROOT, "systemd/homeward-agent.service");
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
  readonly anon: number;
  readonly file: number;
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
    anon: procStatus(pid, "RssAnon"),
    file: procStatus(pid, "RssFile"),
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

/** The Environment= settings of the agent's unit, as the binary gets them under systemd. */
function unitEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const line of readFileSync(UNIT, "utf8").split("\n")) {
    if (!line.startsWith("Environment=")) continue;
    for (const pair of line.slice("Environment=".length).split(/\s+/)) {
      const equals = pair.indexOf("=");
      if (equals > 0) env[pair.slice(0, equals)] = pair.slice(equals + 1);
    }
  }
  return env;
}
const UNIT_ENV = unitEnvironment();
const UNIT_ENV_TEXT = Object.entries(UNIT_ENV)
  .map(([key, value]) => `${key}=${value}`)
  .join(" ");
const V8_DEFAULTS = { [AGENT_V8_ENV]: "default" };
const BUNDLED = { HOMEWARD_RUNNER: "bundle" };

// The npm package's prebuilt bundle (what `npm pack` puts in the package).
await buildNpmBundle();

// Every executable starts from a cold page cache, as after a reboot: how a file got into the cache
// changes how much of it a process maps (scripts/build/page-cache.ts; a freshly built binary showed
// ~15 MiB more file-backed RSS). The pages of this Node that this script has mapped stay cached.
const executables = [node20, ...(node24 ? [node24] : []), ...(haveBinary ? [BINARY] : [])];
const dropped = executables.filter((file) => dropFromPageCache(file));

const runs: Promise<Measured>[] = [];
/** The single binary and its copies: the Node inside them is the pinned Node 24. */
const binaries = new Set<string>([BINARY]);
const none = (): number => 0;
const linesOf = (key: string) => (): number => received.get(key) ?? 0;
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
      binaries.has(command) ? "v24 (in the binary)" : nodeVersion(command),
      start(command, [...args, ...agentArgs(key)], env),
      linesOf(key),
    ),
  );
};
const bare = (node: string): void => {
  runs.push(
    measure("bare `node -e` (stays alive)", nodeVersion(node), start(node, ["-e", KEEP_ALIVE]), none),
  );
};

bare(node20);
agentRun("`npx homeward agent`, installed package", "bench-npm", node20, [NPM_ENTRY], BUNDLED);
agentRun(`installed package, \`${UNIT_ENV_TEXT}\``, "bench-npm-env", node20, [NPM_ENTRY], {
  ...BUNDLED,
  ...UNIT_ENV,
});
agentRun(
  "installed package, V8 defaults (`HOMEWARD_AGENT_V8=default`)",
  "bench-npm-v8",
  node20,
  [NPM_ENTRY],
  {
    ...BUNDLED,
    ...V8_DEFAULTS,
  },
);
agentRun("`npx homeward agent` in a git checkout (tsx)", "bench-tsx", node20, [NPM_ENTRY], {
  HOMEWARD_RUNNER: "tsx",
});
if (node24) bare(node24);
if (haveBinary) {
  agentRun("`dist/homeward-linux-x64 agent` as the unit runs it", "bench-bin-unit", BINARY, [], UNIT_ENV);
  agentRun("binary, without the unit's environment", "bench-bin", BINARY, []);
  agentRun("binary, no unit environment, V8 defaults", "bench-bin-v8", BINARY, [], V8_DEFAULTS);
  // The same bytes written with one write, as a build leaves them in the page cache (large folios,
  // mapped whole on a fault): what the "binary" rows measured before the cache was dropped.
  const freshCopy = join(work, "homeward-fresh-copy");
  writeFileSync(freshCopy, readFileSync(BINARY), { mode: 0o755 });
  binaries.add(freshCopy);
  agentRun(
    "binary, a fresh one-write copy (page cache as a build leaves it)",
    "bench-bin-fresh",
    freshCopy,
    [],
    UNIT_ENV,
  );
}

const results = await Promise.all(runs);
sink.close();
sink.closeAllConnections();

// ---- report ------------------------------------------------------------------------------------

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
const cpuModel = cpus()[0]?.model ?? "unknown CPU";
console.log(
  `Agent steady state, default config (system and pi every 10 s, net and self every minute), shipping to a local sink. ` +
    `${SECONDS} s measured after ${WARMUP_S} s of warm-up; ${cpuModel}, ${cpus().length} cores. ` +
    `Dropped from the page cache before the runs: ${dropped.length > 0 ? dropped.join(", ") : "nothing (no dd)"}.\n`,
);
console.log(
  "| process | Node | RSS median MiB | RSS max MiB | anon / file MiB | × bare node | CPU % of a core |",
);
console.log("|---|---|---:|---:|---:|---:|---:|");
for (const result of results) {
  const bare = results.find(
    (other) =>
      other.name.startsWith("bare") &&
      (other.node === result.node || (result.node.startsWith("v24") && other.node.startsWith("v24"))),
  );
  const ratio = bare ? (result.rssMedian / bare.rssMedian).toFixed(2) : "–";
  console.log(
    `| ${result.name} | ${result.node} | ${mib(result.rssMedian)} | ${mib(result.rssMax)} | ${mib(result.anon)} / ${mib(result.file)} | ${ratio}× | ${result.cpuPercent.toFixed(2)} |`,
  );
}
if (!node24)
  console.log("\n(no Node 24 in build/cache: run `npm run build:binaries` for the bare Node 24 row)");
if (!haveBinary)
  console.log("\n(dist/homeward-linux-x64 is not built: run `npm run build:binaries` for its row)");

const agentRows = results.filter((result) => !result.name.startsWith("bare"));
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
