import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { CARBON_CACHE } from "../../test/harness/carbon.ts";
import { graphiteWebInstalled } from "../../test/harness/graphite-web.ts";
import { WHISPER_FETCH } from "../../test/harness/whisper.ts";

/** The Debian packages the demo runs Graphite with, and what shows each one is there. */
export const GRAPHITE_PACKAGES = ["graphite-carbon", "python3-whisper", "graphite-web"] as const;

export interface GraphiteAvailability {
  /** carbon-cache and whisper-fetch: Carbon can run and its data can be read. */
  readonly carbon: boolean;
  /** graphite-web can run (needs carbon too, to have data). */
  readonly graphiteWeb: boolean;
}

export function graphiteAvailability(): GraphiteAvailability {
  return {
    carbon: existsSync(CARBON_CACHE) && existsSync(WHISPER_FETCH),
    graphiteWeb: graphiteWebInstalled(),
  };
}

export function missingPackages(available: GraphiteAvailability = graphiteAvailability()): string[] {
  const missing: string[] = [];
  if (!available.carbon) missing.push("graphite-carbon", "python3-whisper");
  if (!available.graphiteWeb) missing.push("graphite-web");
  return missing;
}

export interface InstallOutcome {
  readonly available: GraphiteAvailability;
  /** What was done or what the user should do, one line each. */
  readonly notes: readonly string[];
}

function canInstall(): boolean {
  return process.platform === "linux" && process.getuid?.() === 0 && existsSync("/usr/bin/apt-get");
}

function aptGet(args: readonly string[], quiet: boolean): boolean {
  const result = spawnSync("/usr/bin/apt-get", args, {
    stdio: quiet ? "pipe" : "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  return result.status === 0;
}

/**
 * Installs graphite-carbon and graphite-web with apt-get when they are missing and this is root on a
 * Debian-like system; otherwise says what to install. Never fails: without Graphite the demo prints
 * the forwarded lines instead.
 */
export function ensureGraphite(options: { install: boolean; quiet: boolean }): InstallOutcome {
  const before = graphiteAvailability();
  const missing = missingPackages(before);
  if (missing.length === 0) return { available: before, notes: [] };
  const command = `apt-get install --no-install-recommends ${missing.join(" ")}`;
  if (!options.install) {
    return { available: before, notes: [`Graphite is not fully installed; to get it: sudo ${command}`] };
  }
  if (!canInstall()) {
    return {
      available: before,
      notes: [`Graphite is not fully installed and this is not root on Debian; to get it: sudo ${command}`],
    };
  }
  const notes = [`installing ${missing.join(", ")} with apt-get`];
  const args = ["install", "-y", "-q", "--no-install-recommends", ...missing];
  // A fresh machine may have no package lists yet: update once, then try again.
  if (
    !aptGet(args, options.quiet) &&
    !(aptGet(["update", "-q"], options.quiet) && aptGet(args, options.quiet))
  ) {
    notes.push(`apt-get could not install ${missing.join(" ")}; going on without what is missing`);
  }
  return { available: graphiteAvailability(), notes };
}
