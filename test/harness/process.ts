import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { trackProcessGroup, untrackProcessGroup } from "./cleanup.ts";
import { LOOPBACK } from "./free-port.ts";
import { pollUntil } from "./poll.ts";
import { persistLog } from "./test-logs.ts";

// The supervisor stands between this process and the service. It asks the kernel for SIGTERM when
// its parent dies (PR_SET_PDEATHSIG), so a test process killed with SIGKILL, or by the runner's
// timeout, does not leave carbon-cache or mosquitto running. The death signal cannot be set on the
// service itself: it is cleared when a process changes its credentials, which mosquitto does when it
// drops privileges. The supervisor forwards SIGTERM/SIGINT/SIGHUP, escalates to SIGKILL when the
// service ignores SIGTERM for 10 s, and exits with the service's status. Python is used because it
// can call prctl() and is always present where carbon-cache is.
const SUPERVISOR = `
import ctypes, os, signal, subprocess, sys
parent = int(sys.argv[1])
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except Exception:
    pass
if os.getppid() != parent:
    sys.exit(70)
child = None
pending = []
def forward(signum, frame):
    if child is None:
        pending.append(signum)
        return
    try:
        child.send_signal(signum)
    except OSError:
        pass
    signal.alarm(10)
def escalate(signum, frame):
    if child is not None:
        child.kill()
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, forward)
signal.signal(signal.SIGALRM, escalate)
child = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL)
for s in pending:
    forward(s, None)
code = child.wait()
sys.exit(code if code >= 0 else 128 - code)
`;

const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const OUTPUT_LIMIT = 256 * 1024;

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

export interface SupervisedProcess {
  readonly name: string;
  /** The supervisor's pid, which is also the process group of it and the service. */
  readonly pid: number;
  /** Settles on exit. Awaiting it alone does not keep this process alive: use stop() or kill(). */
  readonly exited: Promise<ExitStatus>;
  /** The exit status once the process has exited, else undefined. */
  exitStatus(): ExitStatus | undefined;
  /** The last 256 KiB of the service's stdout and stderr, interleaved. */
  output(): string;
  /** SIGTERM, then SIGKILL to the whole group after `timeoutMs` (default 15 s); resolves on exit. */
  stop(timeoutMs?: number): Promise<ExitStatus>;
  /** SIGKILL to the whole group at once; resolves on exit. */
  kill(): Promise<ExitStatus>;
}

export interface SpawnOptions {
  name: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export function describeExit(status: ExitStatus): string {
  if (status.error) return `failed to start: ${status.error.message}`;
  if (status.signal) return `killed by ${status.signal}`;
  return `exited with code ${String(status.code)}`;
}

/** Starts `command` under the supervisor, in its own process group, with output captured. */
export function spawnSupervised(
  command: string,
  args: readonly string[],
  options: SpawnOptions,
): SupervisedProcess {
  const child = spawn(PYTHON, ["-c", SUPERVISOR, String(process.pid), command, ...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const append = (chunk: string): void => {
    persistLog(options.name, chunk);
    output += chunk;
    if (output.length > OUTPUT_LIMIT) output = output.slice(output.length - OUTPUT_LIMIT);
  };
  child.stdout.setEncoding("utf8").on("data", append);
  child.stderr.setEncoding("utf8").on("data", append);

  let status: ExitStatus | undefined;
  const pid = child.pid;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("error", (error) => {
      status ??= { code: null, signal: null, error };
      resolve(status);
    });
    child.once("close", (code, signal) => {
      status ??= { code, signal };
      if (pid !== undefined) untrackProcessGroup(pid);
      resolve(status);
    });
  });
  if (pid !== undefined) trackProcessGroup(pid);
  // A forgotten handle must not keep the test process alive: the exit handler kills it instead.
  // stop() and kill() take the reference back, or the process could end while they wait.
  const setRef = (ref: boolean): void => {
    // With stdio "pipe", stdout and stderr are net.Sockets, which can be (un)referenced.
    for (const handle of [child, child.stdout as Socket, child.stderr as Socket]) {
      if (ref) handle.ref();
      else handle.unref();
    }
  };
  setRef(false);

  return {
    name: options.name,
    pid: pid ?? -1,
    exited,
    exitStatus: () => status,
    output: () => output,
    async stop(timeoutMs = 15_000) {
      if (status || pid === undefined) return exited;
      setRef(true);
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // exited meanwhile
      }
      const timer = new AbortController();
      const timedOut = await Promise.race([
        exited.then(() => false),
        delay(timeoutMs, true, { signal: timer.signal }).catch(() => false),
      ]);
      timer.abort();
      if (timedOut) {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // exited meanwhile
        }
      }
      return exited;
    },
    async kill() {
      if (status || pid === undefined) return exited;
      setRef(true);
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // exited meanwhile
      }
      return exited;
    },
  };
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` right now. */
export function canConnect(port: number, host: string = LOOPBACK): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * Polls until `ports` all accept connections and `ready(output)` (if given) holds, so that a port
 * some other process took meanwhile is not mistaken for the service's. Fails at once, with the
 * service's output, if the process exits first, and with the output too when the deadline passes.
 */
export async function waitForListening(
  proc: SupervisedProcess,
  ports: readonly number[],
  timeoutMs: number,
  ready: (output: string) => boolean = () => true,
): Promise<void> {
  await pollUntil(
    async () => {
      const status = proc.exitStatus();
      if (status) {
        throw new Error(
          `${proc.name} ${describeExit(status)} before listening on ${ports.join(", ")}; output:\n${proc.output()}`,
        );
      }
      if (!ready(proc.output())) return undefined;
      const results = await Promise.all(ports.map((port) => canConnect(port)));
      return results.every(Boolean) ? true : undefined;
    },
    {
      timeoutMs,
      what: `${proc.name} to listen on 127.0.0.1 port(s) ${ports.join(", ")}`,
      describe: () => `output:\n${proc.output()}`,
    },
  );
}
