import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { checkShipStatus } from "../../../agent/status/ship-status.ts";
import type { ShipStatus } from "../../../agent/status/ship-status.ts";
import { statusFilePath } from "../../../agent/status/status-file.ts";
import { generateEd25519KeyPair } from "../../../protocol/keys.ts";
import { writeKeyFile } from "../../../protocol/key-file.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import type { AfterHook } from "../../harness/cleanup.ts";
import { LOOPBACK } from "../../harness/free-port.ts";
import { pollUntil } from "../../harness/poll.ts";
import { spawnSupervised } from "../../harness/process.ts";
import type { SupervisedProcess } from "../../harness/process.ts";
import type { Point } from "../../harness/whisper.ts";
import type { Carbon } from "../../harness/carbon.ts";

const MAIN = fileURLToPath(new URL("../../../bin/main.ts", import.meta.url));

export interface AgentDevice {
  readonly name: string;
  readonly algorithm: "ed25519" | "hmac";
  readonly dir: string;
  readonly keyFile: string;
  readonly stateDir: string;
  readonly configFile: string;
  /** This device's entry for the server's auth file. */
  readonly authEntry: string;
  writeConfig(config: Record<string, unknown>): void;
}

/**
 * A device: its key (0600), state dir and config file, in a temp dir removed after the test. The key
 * is ed25519 unless `algorithm: "hmac"` (amproxy's shared secret).
 */
export function makeDevice(
  name: string,
  options: { rate?: number; burst?: number; algorithm?: "ed25519" | "hmac" } = {},
): AgentDevice {
  const dir = makeTempDir(`agent-${name}`);
  const keyFile = join(dir, "device.key");
  const algorithm = options.algorithm ?? "ed25519";
  let credential: string;
  if (algorithm === "hmac") {
    const secret = randomBytes(24).toString("base64url");
    writeKeyFile(keyFile, { keyId: name, algorithm, secret: Buffer.from(secret, "utf8") });
    credential = `secret_key: ${secret}`;
  } else {
    const pair = generateEd25519KeyPair();
    writeKeyFile(keyFile, { keyId: name, algorithm, secret: pair.secretKey, publicKey: pair.publicKey });
    credential = `ed25519: ${Buffer.from(pair.publicKey).toString("base64")}`;
  }
  const stateDir = join(dir, "state");
  const configFile = join(dir, "agent.json");
  const authEntry = [
    `  ${name}:`,
    `    ${credential}`,
    `    metrics: ["homeward.${name}.**"]`,
    `    rate: ${options.rate ?? 1000}`,
    `    burst: ${options.burst ?? 5000}`,
    "",
  ].join("\n");
  return {
    name,
    algorithm,
    dir,
    keyFile,
    stateDir,
    configFile,
    authEntry,
    writeConfig(config) {
      writeFileSync(
        configFile,
        `${JSON.stringify({ device: name, key_file: keyFile, ...config }, null, 2)}\n`,
      );
    },
  };
}

/** How to start the agent's node process, beyond its own arguments. */
export interface AgentLaunch {
  /** Modules node loads before the agent (`--import`), after tsx: fault injection seams. */
  readonly preload?: readonly string[];
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
}

/** `homeward agent` as its own process, so it can be killed with -9 like a Pi losing power. */
export function spawnAgent(
  device: AgentDevice,
  t?: AfterHook,
  extraArgs: readonly string[] = [],
  launch: AgentLaunch = {},
): SupervisedProcess {
  const proc = spawnSupervised(
    process.execPath,
    [
      "--import",
      "tsx",
      ...(launch.preload ?? []).flatMap((module) => ["--import", module]),
      MAIN,
      "agent",
      "--config",
      device.configFile,
      "--state-dir",
      device.stateDir,
      ...extraArgs,
    ],
    { name: `agent-${device.name}`, ...(launch.env && { env: { ...process.env, ...launch.env } }) },
  );
  t?.after(async () => {
    await proc.kill();
  });
  return proc;
}

/** A shell script for the exec collector that prints known readings, stamped with the time it ran. */
export function writeExecScript(dir: string, lines: readonly string[]): string {
  const path = join(dir, "readings.sh");
  writeFileSync(path, `#!/bin/sh\n${lines.map((line) => `echo "${line}"`).join("\n")}\n`, { mode: 0o755 });
  return path;
}

/** Every collector off: a config's `collect` for tests that want only their own exec readings. */
export const ONLY_EXEC = {
  system: { enabled: false },
  pi: { enabled: false },
  net: { enabled: false },
  self: { enabled: false },
} as const;

/** Resolves once the agent has logged "agent started" (its buffer is open and it collects). */
export async function agentStarted(agent: SupervisedProcess, timeoutMs = 30_000): Promise<void> {
  await pollUntil(
    () => {
      if (agent.exitStatus()) throw new Error(`the agent exited before starting:\n${agent.output()}`);
      return agent.output().includes('msg="agent started"') ? true : undefined;
    },
    { what: "the agent to start", timeoutMs, describe: () => agent.output() },
  );
}

/** The agent's own pid (spawnSupervised's pid is its supervisor's). */
export function agentPid(agent: SupervisedProcess): number {
  const children = readFileSync(`/proc/${agent.pid}/task/${agent.pid}/children`, "utf8").trim();
  const pid = Number(children.split(" ")[0]);
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new Error(`no child under supervisor ${agent.pid}`);
  return pid;
}

/** VmRSS of a process, in bytes. */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match?.[1]) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** `<stateDir>/status.json` as the agent last wrote it (at least every 10 s, and when it stops). */
export function readAgentStatus(device: AgentDevice): ShipStatus {
  return checkShipStatus(JSON.parse(readFileSync(statusFilePath(device.stateDir), "utf8")));
}

/** One run of a sequence script: it printed readings `first`..`last`, at wall-clock second `at`. */
export interface SequenceRun {
  readonly first: number;
  readonly last: number;
  readonly at: number;
}

export interface SequenceScript {
  readonly path: string;
  /** The metric the readings land under, relative to the exec entry: `seq`. */
  readonly metric: "seq";
  /** The runs the script has logged so far, oldest first. */
  runs(): SequenceRun[];
  /** Every reading produced so far (1, 2, 3, …, minus numbers a killed run never logged). */
  produced(): number[];
  /** The highest reading produced so far (0: none). */
  last(): number;
  /**
   * Waits for a run still in progress to end: the collector runs it in its own process group, so a
   * run started by an agent that was killed goes on (and logs itself) after the agent is gone.
   */
  settle(): void;
  /**
   * Lets the script produce at most a couple more runs, waits until it has produced them, and
   * returns the final reading: after this, the set of readings is known and does not change.
   */
  finish(options?: { timeoutMs?: number; describe?: () => string }): Promise<number>;
}

/**
 * An exec collector script that prints the next `perRun` readings of a sequence (`seq <n>`) on each
 * run, so a test knows exactly which readings were taken. It logs each run (`first last unix-time`)
 * before printing it: a reading is "produced" once it is in the log, so one the agent never got
 * (killed while the script ran) is still counted. The counter moves before the log is written, so
 * a run cut short anywhere can never hand out a number twice; flock keeps runs apart even across
 * an agent killed mid-run and its successor.
 *
 * With `timestampBase`, reading n carries the explicit timestamp `timestampBase + n`: each reading
 * gets its own whisper slot however many are printed per run, and its value says which one it is.
 * Without it the agent stamps readings with the run's time. Past `limit` readings (or the limit
 * `finish()` sets) it prints nothing.
 */
export function writeSequenceScript(
  dir: string,
  options: { perRun?: number; timestampBase?: number; limit?: number; name?: string } = {},
): SequenceScript {
  const name = options.name ?? "seq";
  const path = join(dir, `${name}.sh`);
  const counter = join(dir, `${name}.counter`);
  const limitFile = join(dir, `${name}.limit`);
  const log = join(dir, `${name}.log`);
  const perRun = options.perRun ?? 1;
  const base = options.timestampBase;
  const setLimit = (limit: number): void => {
    writeFileSync(`${limitFile}.tmp`, `${limit}\n`);
    renameSync(`${limitFile}.tmp`, limitFile);
  };
  setLimit(options.limit ?? 1_000_000_000);
  const print =
    base === undefined
      ? `awk -v a="$first" -v b="$end" 'BEGIN { for (i = a; i <= b; i++) printf "seq %d\\n", i }'`
      : `awk -v a="$first" -v b="$end" -v base=${base} 'BEGIN { for (i = a; i <= b; i++) printf "seq %d %d\\n", i, base + i }'`;
  writeFileSync(
    path,
    [
      "#!/bin/sh",
      "# Written by test/integration/agent/fixture.ts (writeSequenceScript).",
      "set -eu",
      `exec 9>'${counter}.lock'`,
      "flock 9",
      `limit=$(cat '${limitFile}')`,
      `last=$(cat '${counter}' 2>/dev/null || echo 0)`,
      '[ "$last" -lt "$limit" ] || exit 0',
      "first=$((last + 1))",
      `end=$((last + ${perRun}))`,
      '[ "$end" -le "$limit" ] || end=$limit',
      `echo "$end" > '${counter}.tmp'`,
      `mv '${counter}.tmp' '${counter}'`,
      `echo "$first $end $(date +%s)" >> '${log}'`,
      print,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  const runs = (): SequenceRun[] => {
    if (!existsSync(log)) return [];
    return readFileSync(log, "utf8")
      .split("\n")
      .filter((line) => line.length > 0)
      .map((line) => {
        const [first, last, at] = line.split(" ").map(Number) as [number, number, number];
        return { first, last, at };
      });
  };
  const last = (): number => runs().at(-1)?.last ?? 0;
  return {
    path,
    metric: "seq",
    runs,
    produced: () => runs().flatMap(({ first, last: end }) => range(first, end)),
    last,
    settle() {
      const result = spawnSync("flock", [`${counter}.lock`, "true"], { timeout: 30_000 });
      if (result.status !== 0) throw new Error(`flock ${counter}.lock failed: ${String(result.error)}`);
    },
    async finish(finishOptions = {}) {
      // A run in progress may have read the old limit: it ends at most one run past the log.
      const limit = last() + 2 * perRun;
      setLimit(limit);
      await pollUntil(() => (last() >= limit ? true : undefined), {
        what: `the sequence script to reach ${limit}`,
        timeoutMs: finishOptions.timeoutMs ?? 30_000,
        ...(finishOptions.describe && { describe: finishOptions.describe }),
      });
      return limit;
    },
  };
}

/** first..last, inclusive. */
export function range(first: number, last: number): number[] {
  return Array.from({ length: Math.max(0, last - first + 1) }, (_, index) => first + index);
}

/** Whisper points by value: each value's timestamps (a value stored twice shows up with two). */
export function timestampsByValue(points: readonly Point[]): Map<number, number[]> {
  const byValue = new Map<number, number[]>();
  for (const [timestamp, value] of points) {
    const list = byValue.get(value) ?? [];
    list.push(timestamp);
    byValue.set(value, list);
  }
  return byValue;
}

export interface DeliveredRuns {
  readonly runs: SequenceRun[];
  readonly points: Point[];
  readonly byValue: Map<number, number[]>;
}

/**
 * The end of an outage test: lets the sequence finish, waits until its last reading is in whisper
 * (oldest first, so every earlier one has been sent), stops the agent cleanly, and asserts that the
 * first reading of every run is in whisper exactly once and nothing else is.
 */
export async function expectEveryRunOnce(options: {
  readonly sequence: SequenceScript;
  readonly carbon: Carbon;
  readonly agent: SupervisedProcess;
  readonly metric: string;
  readonly from: number;
  readonly waitMs: number;
  readonly describe: () => string;
}): Promise<DeliveredRuns> {
  const { sequence, carbon, agent, metric, from, describe } = options;
  const lastReading = await sequence.finish({ timeoutMs: 60_000, describe });
  await carbon.waitForPoints(metric, (points) => points.some(([, value]) => value === lastReading), {
    from,
    timeoutMs: options.waitMs,
    describe,
  });
  const stopped = await agent.stop();
  assert.equal(stopped.code, 0, agent.output());
  await carbon.flush();

  const runs = sequence.runs();
  const points = await carbon.fetchPoints(metric, { from });
  const byValue = timestampsByValue(points);
  for (const { first } of runs) {
    const stamps = byValue.get(first);
    assert.ok(stamps, `reading ${first} is not in whisper`);
    assert.equal(stamps.length, 1, `reading ${first} is in whisper ${stamps.length} times`);
  }
  assert.equal(points.length, runs.length, "no point that no run produced");
  return { runs, points, byValue };
}

export interface CountingServer {
  readonly url: string;
  /** Lines received, all batches. */
  lines(): number;
  close(): Promise<void>;
}

/**
 * A stand-in for the server's ingest API that accepts every line without checking it: a sink with
 * no cost of its own, for memory and CPU measurements of the agent.
 */
export async function startCountingServer(t?: AfterHook): Promise<CountingServer> {
  let lines = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const raw = Buffer.concat(chunks);
      const body = request.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
      const count = body
        .toString("utf8")
        .split("\n")
        .filter((line) => line.length > 0).length;
      lines += count;
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ accepted: count, rejected: {}, errors: [] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const { port } = server.address() as AddressInfo;
  let closed = false;
  const handle: CountingServer = {
    url: `http://${LOOPBACK}:${port}`,
    lines: () => lines,
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  t?.after(() => handle.close());
  return handle;
}
