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
// The agent ships to a local counting server (scripts/bench/counting-sink.ts: accepts every line,
// checks nothing), over http:// and, as a Pi is provisioned, over https:// with a certificate from a
// throwaway CA (test/harness/certs.ts, needs `openssl`) that the agent trusts through
// `server.ca_file`, as the README tells an owner with a private CA. Its config is the default one
// (system and pi every 10 s, net and self every minute) except for the server URL (and CA file), and
// pi and net reading fixture trees (test/fixtures/hosts/): pi sees a Pi 4's sysfs, and net finds no
// default route and no Wi-Fi, so nothing leaves this machine. An agent row that received no line in
// the measured window is marked FAILED and the script exits 1 (so warm-up plus window must span a
// 10 s schedule: --seconds 20 is the shortest that is safe).
//
// Usage: node --import tsx scripts/bench-agent.ts [--warmup 20] [--seconds 60] [--queue-lines 200000]
//          [--only=<row ids>] [--transport=http,https]
//   --only: a comma list of row ids (npm, npm-unit-env, npm-v8, tsx, bin-unit, bin, bin-v8,
//     bin-fresh, bare, bare-24, https-client, https-client-24); each bare Node an agent row runs on
//     is kept for the ratio. https-client: a bare Node posting to the https sink as the agent
//     would, and nothing else: the floor that Node's TLS sets.
//   --transport: the agent rows shipping over these (https rows: npm-unit-env, bin-unit).
//   --queue-lines 0 skips the disk buffer's table.
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { parseArgs } from "node:util";
import { writeKeyFile } from "../protocol/key-file.ts";
import { generateEd25519KeyPair } from "../protocol/keys.ts";
import { AGENT_V8_ENV } from "../bin/agent-v8.ts";
import { createTestPki } from "../test/harness/certs.ts";
import type { TestPki } from "../test/harness/certs.ts";
import { startCountingSink } from "./bench/counting-sink.ts";
import type { CountingSink } from "./bench/counting-sink.ts";
import { REPO_ROOT } from "./build/bundle.ts";
import { nodeBinary } from "./build/node-dist.ts";
import { buildNpmBundle } from "./build/npm-bundle.ts";
import { dropFromPageCache } from "./build/page-cache.ts";

const { values } = parseArgs({
  options: {
    warmup: { type: "string", default: "20" },
    seconds: { type: "string", default: "60" },
    "queue-lines": { type: "string", default: "200000" },
    only: { type: "string" },
    transport: { type: "string", default: "http,https" },
  },
});
const WARMUP_S = Number(values.warmup);
const SECONDS = Number(values.seconds);
const QUEUE_LINES = Number(values["queue-lines"]);
const listOption = (value: string): Set<string> =>
  new Set(
    value
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  );
const ONLY = values.only === undefined ? undefined : listOption(values.only);
const TRANSPORTS = listOption(values.transport);
const CLK_TCK = 100;
const NPM_ENTRY = join(REPO_ROOT, "bin/homeward.js");
const UNIT = join(REPO_ROOT, "systemd/homeward-agent.service");
const BINARY = join(REPO_ROOT, "dist/homeward-linux-x64");
const KEEP_ALIVE = "setInterval(() => {}, 1 << 30)";
// A bare Node that only does what the agent's transport does: a gzipped POST every 10 s over one
// kept-alive https:// connection trusting the same CA. What TLS alone costs a Node process.
const HTTPS_CLIENT = `
const { readFileSync } = require("node:fs");
const https = require("node:https");
const { gzipSync } = require("node:zlib");
const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: readFileSync(process.env.BENCH_CA) });
const body = gzipSync(\`bench.client 1 \${Math.floor(Date.now() / 1000)} \${process.env.BENCH_KEY} c2ln\\n\`);
const post = () =>
  https
    .request(\`\${process.env.BENCH_URL}/v1/lines\`, { method: "POST", agent, headers: { "content-encoding": "gzip" } }, (r) => r.resume())
    .on("error", () => {})
    .end(body);
post();
setInterval(post, 10_000);`;

const work = mkdtempSync(join(tmpdir(), "homeward-bench-agent-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

// ---- processes and /proc ------------------------------------------------------------------------

type Transport = "http" | "https";
const TRANSPORT_LABEL: Record<Transport, string> = {
  http: "http:// server",
  https: "https:// server (custom CA)",
};

/** One row of the table: a bare Node, or an agent shipping over `transport`. */
interface Row {
  /** What `--only` names. */
  readonly id: string;
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly transport?: Transport;
  /** Not an agent: HTTPS_CLIENT, posting to the sink as the agent would, for the floor TLS sets. */
  readonly client?: boolean;
}

interface Measured {
  readonly name: string;
  readonly node: string;
  readonly agent: boolean;
  readonly rssMedian: number;
  readonly rssMax: number;
  readonly anon: number;
  readonly file: number;
  readonly cpuPercent: number;
  readonly writeBytes: number;
  readonly lines: number;
  /** Why the row's figures are missing or meaningless: it died, or an agent shipped nothing. */
  readonly failure?: string;
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

interface Started {
  readonly child: ChildProcess;
  /** The last 8 KiB of its stdout and stderr. */
  output(): string;
}

/** Every process started here, killed if this script exits (or throws) before measure() does. */
const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

function start(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Started {
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let output = "";
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString("utf8")).slice(-8192);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("exit", (code, signal) => {
    children.delete(child);
    if (signal !== "SIGTERM" && signal !== "SIGKILL" && code !== 0) {
      console.error(`${command} ${args.join(" ")} exited (${code ?? signal}):\n${output}`);
    }
  });
  return { child, output: () => output };
}

/**
 * Samples a running process once a second for SECONDS, after WARMUP_S. An agent (`lines` given)
 * that received no line in that window is a failure, reported with the tail of its output.
 */
async function measure(
  name: string,
  node: string,
  { child, output }: Started,
  lines?: () => number,
): Promise<Measured> {
  const pid = child.pid as number;
  const agent = lines !== undefined;
  const stop = (failure?: string): string | undefined => {
    child.kill("SIGTERM");
    if (failure !== undefined) {
      console.error(`FAILED: ${name}: ${failure}; its last output:\n${output() || "(none)"}\n`);
    }
    return failure;
  };
  const unmeasured = (failure: string): Measured => ({
    name,
    node,
    agent,
    rssMedian: Number.NaN,
    rssMax: Number.NaN,
    anon: Number.NaN,
    file: Number.NaN,
    cpuPercent: Number.NaN,
    writeBytes: Number.NaN,
    lines: 0,
    failure: stop(failure),
  });
  await delay(WARMUP_S * 1000);
  if (child.exitCode !== null || child.signalCode !== null) return unmeasured("exited during the warm-up");
  try {
    const rss: number[] = [];
    const cpu0 = cpuSeconds(pid);
    const write0 = writeBytes(pid);
    const lines0 = lines?.() ?? 0;
    const started = performance.now();
    for (let second = 0; second < SECONDS; second++) {
      rss.push(procStatus(pid, "VmRSS"));
      await delay(1000);
    }
    const elapsed = (performance.now() - started) / 1000;
    const shipped = (lines?.() ?? 0) - lines0;
    return {
      name,
      node,
      agent,
      rssMedian: median(rss),
      rssMax: Math.max(...rss),
      anon: procStatus(pid, "RssAnon"),
      file: procStatus(pid, "RssFile"),
      cpuPercent: ((cpuSeconds(pid) - cpu0) / elapsed) * 100,
      writeBytes: writeBytes(pid) - write0,
      lines: shipped,
      failure: stop(agent && shipped === 0 ? "no lines received" : undefined),
    };
  } catch (error) {
    // /proc/<pid> is gone: it exited while being measured.
    return unmeasured(`exited while measured (${(error as Error).message})`);
  }
}

function nodeVersion(node: string): string {
  return spawnSync(node, ["--version"], { encoding: "utf8" }).stdout.trim();
}

// ---- the agent's setup ---------------------------------------------------------------------------

/**
 * A key, a default config pointing at `sink` (trusting `caFile` when given) and a state dir;
 * returns the agent's arguments.
 */
function agentArgs(name: string, sink: CountingSink, caFile?: string): string[] {
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
      server: { url: sink.url, ...(caFile === undefined ? {} : { ca_file: caFile }) },
      collect: {
        pi: { root: join(REPO_ROOT, "test/fixtures/hosts/pi4-bookworm") },
        net: { root: join(REPO_ROOT, "test/fixtures/hosts/bare") },
      },
    }),
  );
  return ["agent", "--config", config, "--state-dir", join(dir, "state")];
}

// ---- the rows ----------------------------------------------------------------------------------

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
// The same bytes as the binary written with one write, as a build leaves them in the page cache
// (large folios, mapped whole on a fault): what the "binary" rows measured before the cache was
// dropped. Written only when its row runs.
const FRESH_COPY = join(work, "homeward-fresh-copy");
/** The single binary and its copies: the Node inside them is the pinned Node 24. */
const binaries = new Set<string>([BINARY, FRESH_COPY]);

const rows: Row[] = [];
const bare = (id: string, node: string): void => {
  rows.push({ id, name: "bare `node -e` (stays alive)", command: node, args: ["-e", KEEP_ALIVE] });
};
const agent = (
  id: string,
  transports: readonly Transport[],
  name: string,
  command: string,
  args: readonly string[],
  env?: NodeJS.ProcessEnv,
): void => {
  for (const transport of transports) {
    rows.push({ id, name: `${name}, ${TRANSPORT_LABEL[transport]}`, command, args, env, transport });
  }
};

bare("bare", node20);
agent("npm", ["http"], "`npx homeward agent`, installed package", node20, [NPM_ENTRY], BUNDLED);
agent("npm-unit-env", ["http", "https"], `installed package, \`${UNIT_ENV_TEXT}\``, node20, [NPM_ENTRY], {
  ...BUNDLED,
  ...UNIT_ENV,
});
agent(
  "npm-v8",
  ["http"],
  "installed package, V8 defaults (`HOMEWARD_AGENT_V8=default`)",
  node20,
  [NPM_ENTRY],
  { ...BUNDLED, ...V8_DEFAULTS },
);
agent("tsx", ["http"], "`npx homeward agent` in a git checkout (tsx)", node20, [NPM_ENTRY], {
  HOMEWARD_RUNNER: "tsx",
});
const httpsClient = (id: string, node: string): void => {
  rows.push({
    id,
    name: "bare `node -e` posting every 10 s over https:// (keep-alive, same CA): no agent",
    command: node,
    args: ["-e", HTTPS_CLIENT],
    transport: "https",
    client: true,
  });
};
httpsClient("https-client", node20);
if (node24) {
  bare("bare-24", node24);
  httpsClient("https-client-24", node24);
}
if (haveBinary) {
  agent(
    "bin-unit",
    ["http", "https"],
    "`dist/homeward-linux-x64 agent` as the unit runs it",
    BINARY,
    [],
    UNIT_ENV,
  );
  agent("bin", ["http"], "binary, without the unit's environment", BINARY, []);
  agent("bin-v8", ["http"], "binary, no unit environment, V8 defaults", BINARY, [], V8_DEFAULTS);
  agent(
    "bin-fresh",
    ["http"],
    "binary, a fresh one-write copy (page cache as a build leaves it)",
    FRESH_COPY,
    [],
    UNIT_ENV,
  );
}

const usage = (problem: string): never => {
  console.error(problem);
  process.exit(2);
};
const ids = [...new Set(rows.map((row) => row.id))];
for (const id of ONLY ?? []) {
  if (!ids.includes(id)) usage(`--only: no row "${id}" here (rows: ${ids.join(", ")})`);
}
for (const transport of TRANSPORTS) {
  if (!(transport in TRANSPORT_LABEL)) usage(`--transport: "${transport}" is not http or https`);
}

/** The Node an agent row runs on, as the bare row's command that runs the same Node. */
const nodeOf = (row: Row): string | undefined => (binaries.has(row.command) ? node24 : row.command);
const agentRows = rows.filter(
  (row) => row.transport !== undefined && (ONLY?.has(row.id) ?? true) && TRANSPORTS.has(row.transport),
);
const selected = rows.filter(
  (row) =>
    agentRows.includes(row) ||
    (row.transport === undefined &&
      (ONLY === undefined || ONLY.has(row.id) || agentRows.some((other) => nodeOf(other) === row.command))),
);

// ---- runs --------------------------------------------------------------------------------------

const sinks = new Map<Transport, CountingSink>();
let pki: TestPki | undefined;
if (selected.some((row) => row.transport === "http")) sinks.set("http", await startCountingSink());
if (selected.some((row) => row.transport === "https")) {
  pki = await createTestPki();
  sinks.set("https", await startCountingSink(pki.server));
}

// The npm package's prebuilt bundle (what `npm pack` puts in the package).
if (selected.some((row) => row.command === node20 && row.transport !== undefined)) await buildNpmBundle();
if (selected.some((row) => row.command === FRESH_COPY)) {
  writeFileSync(FRESH_COPY, readFileSync(BINARY), { mode: 0o755 });
}

// Every executable starts from a cold page cache, as after a reboot: how a file got into the cache
// changes how much of it a process maps (scripts/build/page-cache.ts; a freshly built binary showed
// ~15 MiB more file-backed RSS). The pages of this Node that this script has mapped stay cached.
const executables = [node20, ...(node24 ? [node24] : []), ...(haveBinary ? [BINARY] : [])];
const dropped = executables.filter((file) => dropFromPageCache(file));

const results = await Promise.all(
  selected.map((row) => {
    const node = binaries.has(row.command) ? "v24 (in the binary)" : nodeVersion(row.command);
    if (row.transport === undefined) return measure(row.name, node, start(row.command, row.args, row.env));
    const sink = sinks.get(row.transport) as CountingSink;
    const key = `bench-${row.id}-${row.transport}`;
    if (row.client) {
      const env = { BENCH_URL: sink.url, BENCH_CA: pki?.caFile, BENCH_KEY: key };
      return measure(row.name, node, start(row.command, row.args, env), () => sink.lines(key));
    }
    const args = [...row.args, ...agentArgs(key, sink, row.transport === "https" ? pki?.caFile : undefined)];
    return measure(row.name, node, start(row.command, args, row.env), () => sink.lines(key));
  }),
);
for (const sink of sinks.values()) sink.close();
await pki?.dispose();

// ---- report ------------------------------------------------------------------------------------

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
const cpuModel = cpus()[0]?.model ?? "unknown CPU";
const overTransports = [...sinks.keys()].map((transport) => `${transport}://`).join(" and ");
const customCa = sinks.has("https")
  ? " (https: a certificate from a throwaway CA the agent trusts through `server.ca_file`)"
  : "";
console.log(
  `Agent steady state, default config (system and pi every 10 s, net and self every minute), shipping to a local sink` +
    `${overTransports === "" ? "" : ` over ${overTransports}${customCa}`}. ` +
    `${SECONDS} s measured after ${WARMUP_S} s of warm-up; ${cpuModel}, ${cpus().length} cores. ` +
    `Dropped from the page cache before the runs: ${dropped.length > 0 ? dropped.join(", ") : "nothing (no dd)"}.\n`,
);
const failedName = (result: Measured): string =>
  result.failure === undefined ? result.name : `${result.name} **FAILED: ${result.failure}**`;
console.log(
  "| process | Node | RSS median MiB | RSS max MiB | anon / file MiB | × bare node | CPU % of a core |",
);
console.log("|---|---|---:|---:|---:|---:|---:|");
for (const result of results) {
  if (result.failure !== undefined && Number.isNaN(result.rssMedian)) {
    console.log(`| ${failedName(result)} | ${result.node} | – | – | – | – | – |`);
    continue;
  }
  const bare = results.find(
    (other) =>
      !other.agent &&
      other.failure === undefined &&
      (other.node === result.node || (result.node.startsWith("v24") && other.node.startsWith("v24"))),
  );
  const ratio = bare ? (result.rssMedian / bare.rssMedian).toFixed(2) : "–";
  console.log(
    `| ${failedName(result)} | ${result.node} | ${mib(result.rssMedian)} | ${mib(result.rssMax)} | ${mib(result.anon)} / ${mib(result.file)} | ${ratio}× | ${result.cpuPercent.toFixed(2)} |`,
  );
}
if (!node24)
  console.log("\n(no Node 24 in build/cache: run `npm run build:binaries` for the bare Node 24 row)");
if (!haveBinary)
  console.log("\n(dist/homeward-linux-x64 is not built: run `npm run build:binaries` for its row)");

const agentResults = results.filter((result) => result.agent);
if (agentResults.length > 0) {
  console.log(`\nDisk writes by the agents in the ${SECONDS} s window (/proc/<pid>/io write_bytes):\n`);
  console.log("| process | lines shipped | bytes written | bytes per line |");
  console.log("|---|---:|---:|---:|");
  for (const result of agentResults) {
    const perLine = result.lines > 0 ? (result.writeBytes / result.lines).toFixed(1) : "–";
    const written = Number.isNaN(result.writeBytes) ? "–" : String(result.writeBytes);
    console.log(`| ${failedName(result)} | ${result.lines} | ${written} | ${perLine} |`);
  }
}

const failures = results.filter((result) => result.failure !== undefined);
if (failures.length > 0) {
  process.exitCode = 1;
  console.error(`\n${failures.length} row(s) FAILED: ${failures.map(failedName).join("; ")}`);
}

if (QUEUE_LINES > 0) {
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
  if (queue.status !== 0) {
    process.exitCode = 1;
    console.error(queue.stderr);
  }
}
