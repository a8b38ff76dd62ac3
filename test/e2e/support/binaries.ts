// The built single executables, for the e2e tests: builds dist/ first when it is missing or stale
// (scripts/build-binaries does nothing when it is up to date), and runs a binary natively (x64) or
// under qemu-aarch64-static with the arm64 sysroot (arm64).
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../../support/vectors.ts";

export type Target = "linux-x64" | "linux-arm64";

export const DIST_DIR = join(REPO_ROOT, "dist");
export const ARM64_SYSROOT = join(REPO_ROOT, "build/arm64-sysroot");
export const QEMU = "qemu-aarch64-static";

export function binaryPath(target: Target): string {
  return join(DIST_DIR, `homeward-${target}`);
}

function runScript(script: string, args: string[]): void {
  const result = spawnSync("bash", [join(REPO_ROOT, script), ...args], {
    cwd: REPO_ROOT,
    // The test runner reads the test's stdout as its protocol: build chatter goes to stderr.
    stdio: ["ignore", process.stderr, process.stderr],
    timeout: 30 * 60_000,
  });
  if (result.status !== 0) {
    throw new Error(
      `${script} ${args.join(" ")} failed (${result.error?.message ?? `exit ${result.status}`})`,
    );
  }
}

let built = false;
/** Builds the binaries (not the .xz archives) when dist/ is missing or older than the sources. */
export function ensureBinaries(): void {
  if (built) return;
  runScript("scripts/build-binaries", ["--no-archives"]);
  built = true;
}

export function hasCommand(command: string): boolean {
  return spawnSync("sh", ["-c", 'command -v "$1" >/dev/null', "sh", command]).status === 0;
}

/** Makes build/arm64-sysroot when missing (needs root and Debian's package lists the first time). */
export function ensureArm64Sysroot(): void {
  if (existsSync(join(ARM64_SYSROOT, ".complete"))) return;
  runScript("scripts/build/arm64-sysroot", [ARM64_SYSROOT]);
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The command line that runs a target's binary on this (x86-64) machine. */
export function commandFor(target: Target, args: readonly string[]): [string, string[]] {
  if (target === "linux-arm64") return [QEMU, ["-L", ARM64_SYSROOT, binaryPath(target), ...args]];
  return [binaryPath(target), [...args]];
}

export function runBinary(
  target: Target,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const [command, argv] = commandFor(target, args);
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 120_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}
