import { DurationError, parseDuration } from "../../protocol/duration.ts";

/**
 * Timings that are not in the config file because a family's Pi never needs them changed, read
 * from the environment so tests and a debugging owner can shorten them:
 *
 * - `HOMEWARD_FAULT_LOG_INTERVAL` (default 1m): a fault that keeps happening is logged at most once
 *   per this long (see FaultLog).
 * - `HOMEWARD_FATAL_PAUSE` (default 10m): after a refusal retrying soon cannot fix (a certificate
 *   that is expired, not trusted or not the pinned one; a wrong URL), how long to wait.
 *
 * Durations take Go's syntax ("30s", "1m30s", "500ms").
 */
export interface AgentTuning {
  readonly faultLogIntervalMs?: number;
  readonly fatalPauseMs?: number;
}

export class AgentTuningError extends Error {
  override readonly name = "AgentTuningError";
}

export function agentTuning(env: NodeJS.ProcessEnv): AgentTuning {
  const faultLogIntervalMs = durationFrom(env, "HOMEWARD_FAULT_LOG_INTERVAL");
  const fatalPauseMs = durationFrom(env, "HOMEWARD_FATAL_PAUSE");
  return {
    ...(faultLogIntervalMs !== undefined && { faultLogIntervalMs }),
    ...(fatalPauseMs !== undefined && { fatalPauseMs }),
  };
}

function durationFrom(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === "") return undefined;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (error) {
    if (!(error instanceof DurationError)) throw error;
    throw new AgentTuningError(`${name}: ${error.message}`);
  }
  if (!Number.isFinite(ms) || ms < 0) throw new AgentTuningError(`${name}: "${text}" must not be negative`);
  return ms;
}
