// `homeward server` as a child process, for the tests that need what only a separate process shows:
// that it did not crash (an uncaught exception ends it), how much memory it holds (/proc), and its
// whole log as it would reach journald. Used by the fuzz, load and fault tests.
import { chmodSync, readdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeTempDir } from "../../harness/cleanup.ts";
import { freePorts, LOOPBACK } from "../../harness/free-port.ts";
import { describeExit, spawnSupervised, waitForListening } from "../../harness/process.ts";
import type { SupervisedProcess } from "../../harness/process.ts";
import { sample } from "../server/fixture.ts";

const MAIN = fileURLToPath(new URL("../../../bin/main.ts", import.meta.url));

export interface ServerChild {
  readonly proc: SupervisedProcess;
  readonly dir: string;
  readonly authFile: string;
  readonly tcpPort: number;
  readonly httpPort: number;
  readonly metricsPort: number;
  metrics(): Promise<string>;
  /** One sample from /metrics (0 when absent). */
  sample(name: string, labels?: Record<string, string>): Promise<number>;
  /** The node process's resident memory now and at its peak (VmRSS, VmHWM), in bytes. */
  memory(): { rssBytes: number; peakBytes: number };
  /** The server's log lines (JSON), parsed. */
  logs(): Record<string, unknown>[];
  /** Throws with the output if the process has exited. */
  assertRunning(): void;
  /** SIGTERM; returns the exit status. */
  stop(): Promise<ReturnType<SupervisedProcess["exitStatus"]>>;
}

export interface ServerChildOptions {
  readonly authText: string;
  readonly carbonAddr: string;
  /** Extra flags, e.g. ["--max-failures", "0"]. */
  readonly flags?: readonly string[];
  /** Default: a fresh temp dir; "" for none. */
  readonly stateDir?: string;
  /** Runs the server through this command line instead of directly, e.g. to enter a namespace. */
  readonly wrap?: (command: readonly string[]) => { command: string; args: readonly string[] };
  readonly name?: string;
}

/** All descendants of `pid`, depth first (Linux /proc). */
function descendants(pid: number): number[] {
  const found: number[] = [];
  const read = (path: string, list: boolean): string | string[] | undefined => {
    try {
      return list ? readdirSync(path) : readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
  };
  for (const task of (read(`/proc/${pid}/task`, true) as string[] | undefined) ?? []) {
    const children = (read(`/proc/${pid}/task/${task}/children`, false) as string | undefined) ?? "";
    for (const child of children.split(" ").filter(Boolean).map(Number)) {
      found.push(child, ...descendants(child));
    }
  }
  return found;
}

/** The node process under the supervisor (and under any wrapper such as unshare): this node's binary. */
export function nodePidUnder(supervisorPid: number): number | undefined {
  // Not /proc/<pid>/comm: Node 24 names its main thread "MainThread".
  const node = realpathSync(process.execPath);
  return descendants(supervisorPid).find((pid) => {
    try {
      return readlinkSync(`/proc/${pid}/exe`) === node;
    } catch {
      return false;
    }
  });
}

export function processMemory(pid: number): { rssBytes: number; peakBytes: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
  return { rssBytes: field("VmRSS"), peakBytes: field("VmHWM") };
}

export async function spawnServerChild(options: ServerChildOptions): Promise<ServerChild> {
  const dir = makeTempDir("server-child");
  // Readable by a server that runs as another user (tests that drop root to see permissions bite).
  chmodSync(dir, 0o755);
  const authFile = join(dir, "auth_file.yaml");
  writeFileSync(authFile, options.authText, { mode: 0o644 });
  const stateDir = options.stateDir ?? join(dir, "state");
  const [tcpPort, httpPort, metricsPort] = (await freePorts(3)) as [number, number, number];
  const serverArgs = [
    process.execPath,
    "--import",
    "tsx",
    MAIN,
    "server",
    "--auth-file",
    authFile,
    "--carbon-addr",
    options.carbonAddr,
    "--listen",
    `tcp://${LOOPBACK}:${tcpPort}`,
    "--listen",
    `http://${LOOPBACK}:${httpPort}`,
    "--metrics-addr",
    `${LOOPBACK}:${metricsPort}`,
    "--state-dir",
    stateDir,
    "--stats-interval",
    "0",
    "--log-format",
    "json",
    ...(options.flags ?? []),
  ];
  const wrapped = options.wrap
    ? options.wrap(serverArgs)
    : { command: serverArgs[0] as string, args: serverArgs.slice(1) };
  const name = options.name ?? "homeward-server";
  const proc = spawnSupervised(wrapped.command, wrapped.args, {
    name,
    env: { ...process.env, ADDR: "", LISTEN: "" },
  });
  await waitForListening(proc, [tcpPort, httpPort, metricsPort], 30_000);
  const metrics = async (): Promise<string> =>
    (await fetch(`http://${LOOPBACK}:${metricsPort}/metrics`)).text();
  return {
    proc,
    dir,
    authFile,
    tcpPort,
    httpPort,
    metricsPort,
    metrics,
    sample: async (metricName, labels = {}) => sample(await metrics(), metricName, labels),
    memory() {
      const pid = nodePidUnder(proc.pid);
      if (pid === undefined) throw new Error(`no node process under ${proc.pid}`);
      return processMemory(pid);
    },
    logs() {
      return proc
        .output()
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as Record<string, unknown>];
          } catch {
            return [];
          }
        });
    },
    assertRunning() {
      const status = proc.exitStatus();
      if (status)
        throw new Error(`the server ${describeExit(status)}; output:\n${proc.output().slice(-8192)}`);
    },
    async stop() {
      return proc.stop();
    },
  };
}
