import { formatAgo, formatCount, formatSpan, readings } from "./plain-words.ts";
import type { ShipStatus } from "./ship-status.ts";

export interface HealthLimits {
  /** Nothing sent for longer than this is a problem (default 15 minutes). */
  readonly maxSilenceMs: number;
  /** A status file older than this means the agent is not running (default 3 minutes, 3 heartbeats). */
  readonly maxStatusAgeMs: number;
}

export const DEFAULT_HEALTH_LIMITS: HealthLimits = { maxSilenceMs: 15 * 60_000, maxStatusAgeMs: 3 * 60_000 };

export interface StatusReport {
  readonly healthy: boolean;
  /** What is wrong, one sentence each; empty when healthy. */
  readonly problems: readonly string[];
  /** The report, one line each, for a family member to read out. */
  readonly lines: readonly string[];
}

/** Turns a status snapshot into plain words and a verdict. Pure: `nowMs` is the reader's clock. */
export function describeShipStatus(
  status: ShipStatus,
  nowMs: number,
  limits: HealthLimits = DEFAULT_HEALTH_LIMITS,
): StatusReport {
  const problems: string[] = [];
  const lines: string[] = [];
  const who = status.device === null ? "homeward agent" : `homeward agent on ${status.device}`;

  const statusAge = nowMs - status.updatedAt;
  if (statusAge > limits.maxStatusAgeMs) {
    problems.push(`the agent has not updated its status for ${formatSpan(statusAge)}: is it running?`);
  }
  const silentSince = status.lastShipAt ?? status.startedAt;
  const silence = nowMs - silentSince;
  if (silence > limits.maxSilenceMs) {
    problems.push(
      status.lastShipAt === null
        ? `nothing sent since the agent started ${formatAgo(silence)}`
        : `nothing sent for ${formatSpan(silence)}`,
    );
  }

  // Refused lines are dropped, by design; but a server refusing most of them (a key missing from
  // its auth file, a key mismatch after a rotation) is a setup mistake the owner must hear about.
  const dropped = Object.entries(status.droppedByReason).filter(([, count]) => count > 0);
  const droppedTotal = dropped.reduce((sum, [, count]) => sum + count, 0);
  const refusals = dropped.map(([reason, count]) => `${reason}: ${formatCount(count)}`).join(", ");
  if (droppedTotal > status.shippedLines) {
    problems.push(`the server refuses most readings (${refusals}): the owner should check its auth file`);
  }

  // A read-only or full SD card: readings survive only in memory, and not a power cut.
  if (status.buffer.problem !== undefined) {
    problems.push(`the disk cannot be written (${status.buffer.problem}): readings wait in memory only`);
  }

  lines.push(problems.length === 0 ? `${who}: all good` : `${who}: PROBLEM — ${problems.join("; ")}`);
  lines.push(sendingLine(status, nowMs, silence > limits.maxSilenceMs));
  lines.push(waitingLine(status, nowMs));
  if (status.catchUp !== null) {
    const { fractionDone, remaining, etaMs } = status.catchUp;
    const eta = etaMs === null ? "" : `, about ${formatSpan(Math.max(etaMs, 1000))} to go`;
    lines.push(`Catching up: ${Math.floor(fractionDone * 100)}% done (${readings(remaining)} left${eta})`);
  }
  lines.push(
    status.lastError === null
      ? "Last problem: none"
      : `Last problem: ${status.lastError.message}, ${formatAgo(nowMs - status.lastError.at)}`,
  );
  if (droppedTotal > 0) lines.push(`Refused by the server: ${readings(droppedTotal)} (${refusals})`);
  if (status.buffer.droppedOverflow > 0) {
    lines.push(`Lost because the buffer was full: ${readings(status.buffer.droppedOverflow)}`);
  }
  if (status.buffer.droppedCorrupt > 0) {
    lines.push(`Lost to a damaged buffer file: ${readings(status.buffer.droppedCorrupt)}`);
  }
  const droppedUnwritten = status.buffer.droppedUnwritten ?? 0;
  if (droppedUnwritten > 0) {
    lines.push(`Lost because the disk could not be written: ${readings(droppedUnwritten)}`);
  }
  lines.push(`Server: ${status.target}`);
  lines.push(`Agent: started ${formatAgo(nowMs - status.startedAt)}, status written ${formatAgo(statusAge)}`);
  return { healthy: problems.length === 0, problems, lines };
}

function sendingLine(status: ShipStatus, nowMs: number, tooQuiet: boolean): string {
  const retry =
    status.nextAttemptAt === null
      ? ""
      : `, trying again in ${formatSpan(Math.max(0, status.nextAttemptAt - nowMs))}`;
  const failingNow =
    status.lastError !== null && (status.lastShipAt === null || status.lastError.at > status.lastShipAt);
  if (status.lastShipAt === null) {
    return `Sending: ${tooQuiet ? "NOT OK" : "not yet"} — nothing sent since the agent started ${formatAgo(nowMs - status.startedAt)}${retry}`;
  }
  const last = `last sent ${formatAgo(nowMs - status.lastShipAt)}`;
  if (tooQuiet) return `Sending: NOT OK — ${last}${retry}`;
  return failingNow ? `Sending: having trouble — ${last}${retry}` : `Sending: OK — ${last}`;
}

function waitingLine(status: ShipStatus, nowMs: number): string {
  if (status.buffer.depth === 0) return "Waiting to send: nothing";
  const oldest =
    status.oldestReadingAt === null ? "" : ` (oldest ${formatSpan(nowMs - status.oldestReadingAt)} old)`;
  return `Waiting to send: ${readings(status.buffer.depth)}${oldest}`;
}
