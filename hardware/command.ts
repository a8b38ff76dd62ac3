import { spawn } from "node:child_process";

/**
 * Runs a small system command (`vcgencmd`, `ping`, `iw`, an exec collector's script) without a
 * shell, with a timeout and a cap on its output. Readers and collectors take a `CommandRunner` so
 * tests can hand them canned output.
 */
export interface CommandResult {
  /** null when the process was killed by a signal. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** Cap on stdout and on stderr, each; default 1 MiB. */
  readonly maxOutputBytes?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export type CommandRunner = (argv: readonly string[], options: CommandOptions) => Promise<CommandResult>;

export type CommandFailureCode = "not_found" | "timeout" | "output_too_large" | "aborted" | "spawn_failed";

export class CommandError extends Error {
  override readonly name = "CommandError";
  constructor(
    readonly code: CommandFailureCode,
    readonly command: string,
    message: string,
    /** What the command printed before it failed (partial on timeout). */
    readonly stdout = "",
    readonly stderr = "",
  ) {
    super(message);
  }
}

const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
/** After SIGTERM, how long a command gets before SIGKILL. */
const KILL_GRACE_MS = 1000;

export const runCommand: CommandRunner = (argv, options) => {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new TypeError("runCommand: empty argv"));
  const maxBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new CommandError("aborted", file, `${file}: aborted before it started`));
      return;
    }
    const child = spawn(file, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: options.env ?? process.env,
      cwd: options.cwd,
      // Its own process group, so a timeout kills a script's children too.
      detached: true,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrBytes = 0;
    let failure: CommandError | undefined;
    let killTimer: NodeJS.Timeout | undefined;

    const text = (chunks: Buffer[]): string => Buffer.concat(chunks).toString("utf8");
    const stop = (code: CommandFailureCode, message: string): void => {
      if (failure) return;
      failure = new CommandError(code, file, message);
      killGroup("SIGTERM");
      killTimer = setTimeout(() => killGroup("SIGKILL"), KILL_GRACE_MS);
      killTimer.unref();
    };
    const killGroup = (signal: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // Already gone.
      }
    };

    const timer = setTimeout(
      () => stop("timeout", `${file}: no exit after ${options.timeoutMs} ms; killed`),
      options.timeoutMs,
    );
    const onAbort = (): void => stop("aborted", `${file}: aborted`);
    options.signal?.addEventListener("abort", onAbort, { once: true });

    child.stdout.on("data", (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxBytes) {
        stop("output_too_large", `${file}: printed more than ${maxBytes} bytes; killed`);
        return;
      }
      stdout.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderrBytes += chunk.length;
      if (stderrBytes <= maxBytes) stderr.push(chunk);
    });
    child.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      const code: CommandFailureCode = error.code === "ENOENT" ? "not_found" : "spawn_failed";
      reject(
        new CommandError(code, file, `${file}: ${error.code === "ENOENT" ? "not found" : error.message}`),
      );
    });
    child.on("close", (exitCode, signal) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      options.signal?.removeEventListener("abort", onAbort);
      if (failure) {
        reject(new CommandError(failure.code, failure.command, failure.message, text(stdout), text(stderr)));
        return;
      }
      resolve({ exitCode, signal, stdout: text(stdout), stderr: text(stderr) });
    });
  });
};
