import { closeSync, openSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { spawnSupervised } from "../../test/harness/process.ts";
import type { SupervisedProcess } from "../../test/harness/process.ts";

/** The npm entry point: runs bin/main.ts through tsx, as `npx homeward` does. */
export const HOMEWARD = fileURLToPath(new URL("../../bin/homeward.js", import.meta.url));

export interface HomewardProcess {
  readonly proc: SupervisedProcess;
  readonly logFile: string;
  /** The end of the log file. */
  tail(bytes?: number): string;
}

/**
 * `homeward <args>` as its own process, under the harness's supervisor (so it dies with the demo,
 * even on SIGKILL), with stdout and stderr appended to `logFile` rather than kept in memory.
 */
export function spawnHomeward(
  name: string,
  args: readonly string[],
  logFile: string,
  env: NodeJS.ProcessEnv = {},
): HomewardProcess {
  // The shell only redirects, then becomes node (exec), so signals reach homeward itself.
  closeSync(openSync(logFile, "a"));
  const proc = spawnSupervised(
    "/bin/sh",
    ["-c", 'log="$1"; shift; exec "$@" >>"$log" 2>&1', "sh", logFile, process.execPath, HOMEWARD, ...args],
    { name, env: { ...process.env, ...env } },
  );
  return {
    proc,
    logFile,
    tail: (bytes = 4096) => {
      try {
        const text = readFileSync(logFile, "utf8");
        return text.slice(-bytes);
      } catch {
        return "";
      }
    },
  };
}
