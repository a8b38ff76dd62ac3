import { runCommand } from "../../hardware/command.ts";
import { promisedFs } from "../../runtime/fs/promised-fs.ts";
import type { CommandRunner } from "../../hardware/command.ts";
import { underRoot } from "../../hardware/sysfs.ts";
import type { Logger } from "../collectors/collector.ts";
import { silentLogger } from "../collectors/collector.ts";

/** Answers "has NTP synchronized the system clock?". Injected into the clock guard. */
export type SyncCheck = () => Promise<boolean>;

export const SYNC_CHECK_MODES = ["auto", "timesyncd", "timedatectl", "none"] as const;
/**
 * - `timesyncd`: the flag file systemd-timesyncd creates once synchronized (a stat, no process).
 * - `timedatectl`: `timedatectl show -p NTPSynchronized --value` (the kernel's sync flag, so it also
 *   works with chrony or ntpd).
 * - `auto`: the flag file if present, else timedatectl on a systemd machine; a machine that was not
 *   booted with systemd (a container, a dev box) has nothing to ask and counts as synchronized.
 * - `none`: trust the clock (a board with an RTC).
 * In every mode, a clock earlier than the build time is still never trusted (see clock-guard.ts).
 */
export type SyncCheckMode = (typeof SYNC_CHECK_MODES)[number];

const TIMESYNCD_FLAG = "/run/systemd/timesync/synchronized";
/** sd_booted(3): this directory exists only when systemd is PID 1. */
const SYSTEMD_RUNTIME_DIR = "/run/systemd/system";
const TIMEDATECTL_TIMEOUT_MS = 5000;

export interface SyncCheckDeps {
  /** `/` on a device; a fixture tree in tests. */
  readonly root?: string;
  readonly run?: CommandRunner;
  readonly log?: Logger;
}

async function exists(root: string, path: string): Promise<boolean> {
  try {
    await promisedFs.access(underRoot(root, path));
    return true;
  } catch {
    return false;
  }
}

export function timesyncdFlagCheck(root = "/"): SyncCheck {
  return () => exists(root, TIMESYNCD_FLAG);
}

export function timedatectlCheck(run: CommandRunner = runCommand, log: Logger = silentLogger): SyncCheck {
  return async () => {
    try {
      const result = await run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], {
        timeoutMs: TIMEDATECTL_TIMEOUT_MS,
        maxOutputBytes: 4096,
      });
      if (result.exitCode !== 0) {
        log.debug({ exitCode: result.exitCode, stderr: result.stderr.trim() }, "clock: timedatectl failed");
        return false;
      }
      return result.stdout.trim() === "yes";
    } catch (error) {
      log.debug({ err: error }, "clock: timedatectl did not run");
      return false;
    }
  };
}

export function createSyncCheck(mode: SyncCheckMode, deps: SyncCheckDeps = {}): SyncCheck {
  const root = deps.root ?? "/";
  const log = deps.log ?? silentLogger;
  switch (mode) {
    case "none":
      return async () => true;
    case "timesyncd":
      return timesyncdFlagCheck(root);
    case "timedatectl":
      return timedatectlCheck(deps.run, log);
    case "auto": {
      const flag = timesyncdFlagCheck(root);
      const timedatectl = timedatectlCheck(deps.run, log);
      let warnedNoSystemd = false;
      return async () => {
        if (await flag()) return true;
        if (await exists(root, SYSTEMD_RUNTIME_DIR)) return timedatectl();
        if (!warnedNoSystemd) {
          warnedNoSystemd = true;
          log.warn(
            {},
            "clock: not booted with systemd, so there is no NTP state to ask; trusting the clock once it is past the build time. Set clock.sync_check if this box has another way to know.",
          );
        }
        return true;
      };
    }
  }
}
