import { parseDuration } from "../../protocol/duration.ts";
import { DEFAULT_HEALTH_LIMITS, describeShipStatus } from "../../agent/status/describe-status.ts";
import type { HealthLimits } from "../../agent/status/describe-status.ts";
import { ShipStatusError } from "../../agent/status/ship-status.ts";
import { readStatusFile, statusFilePath } from "../../agent/status/status-file.ts";
import { ExitCode, optionalString, parseCommandArgs, UsageError } from "../cli.ts";
import type { Command } from "../cli.ts";

export const DEFAULT_STATE_DIR = "/var/lib/homeward";

const USAGE = `Usage: homeward status [--state-dir ${DEFAULT_STATE_DIR}] [--json] [--max-silence 15m]

Says in plain words what the agent is doing: whether it is sending, how many readings wait to be
sent and how old the oldest is, the last problem, and how far it is in catching up after an outage.
Reads only the agent's state dir (its status.json), not the config file.

  --state-dir     the agent's state dir (default ${DEFAULT_STATE_DIR})
  --json          print the status as JSON, for scripts
  --max-silence   how long without sending counts as a problem (default 15m)

Exits 0 when the agent is running and sending, 1 when it is not (and says why).`;

export const statusCommand: Command = {
  name: "status",
  usage: USAGE,
  async run(argv, io) {
    const { values, help } = parseCommandArgs(argv, {
      "state-dir": { type: "string" },
      json: { type: "boolean" },
      "max-silence": { type: "string" },
    });
    if (help) {
      io.stdout.write(`${USAGE}\n`);
      return ExitCode.Ok;
    }
    const limits = healthLimits(optionalString(values, "max-silence"));
    const path = statusFilePath(optionalString(values, "state-dir") ?? DEFAULT_STATE_DIR);
    const json = values.json === true;
    let status;
    try {
      status = readStatusFile(path);
    } catch (error) {
      if (!(error instanceof ShipStatusError)) throw error;
      if (json) {
        io.stdout.write(
          `${JSON.stringify({ healthy: false, problems: [error.message], statusFile: path, status: null }, null, 2)}\n`,
        );
      } else {
        io.stdout.write(`homeward agent: PROBLEM — ${error.message}\n`);
      }
      return ExitCode.Failure;
    }
    const report = describeShipStatus(status, Date.now(), limits);
    if (json) {
      const { healthy, problems } = report;
      io.stdout.write(`${JSON.stringify({ healthy, problems, statusFile: path, status }, null, 2)}\n`);
    } else {
      io.stdout.write(`${report.lines.join("\n")}\n`);
    }
    return report.healthy ? ExitCode.Ok : ExitCode.Failure;
  },
};

function healthLimits(maxSilence: string | undefined): HealthLimits {
  if (maxSilence === undefined) return DEFAULT_HEALTH_LIMITS;
  let maxSilenceMs: number;
  try {
    maxSilenceMs = parseDuration(maxSilence);
  } catch (error) {
    throw new UsageError(`--max-silence: ${(error as Error).message}`);
  }
  if (maxSilenceMs <= 0) throw new UsageError("--max-silence must be above 0, e.g. 15m");
  return { ...DEFAULT_HEALTH_LIMITS, maxSilenceMs };
}
