import type { ForwarderStats } from "../forward/forwarder.ts";
import type { ServerStats } from "./server-stats.ts";

/** A Graphite path segment from a name that may hold dots or other characters. */
export function metricSegment(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_:-]/g, "_");
  return cleaned.length > 0 ? cleaned : "_";
}

/**
 * The server's own counters as Carbon lines under `prefix` (e.g. homeward.server.<host>),
 * with their newlines: cumulative totals, as Prometheus counters are.
 */
export function carbonReport(
  prefix: string,
  stats: ServerStats,
  forwarder: ForwarderStats,
  nowMs: number,
): string[] {
  const timestamp = Math.floor(nowMs / 1000);
  const lines: string[] = [];
  const add = (path: string, value: number): void => {
    lines.push(`${prefix}.${path} ${value} ${timestamp}\n`);
  };
  add("lines.accepted", stats.totalAccepted());
  for (const [reason, count] of stats.totalRejected()) add(`lines.rejected.${reason}`, count);
  for (const [key, counters] of stats.perKey) {
    const segment = metricSegment(key === "-" ? "unknown" : key);
    add(`keys.${segment}.accepted`, counters.accepted);
    for (const [reason, count] of counters.rejected) add(`keys.${segment}.rejected.${reason}`, count);
  }
  add("sources.blocked_total", stats.sourcesBlocked);
  add("forward.queue_lines", forwarder.queuedLines);
  add("forward.spool_lines", forwarder.spoolDepth);
  add("forward.carbon_connections_up", forwarder.connectionsUp);
  add("forward.forwarded_lines", forwarder.forwardedLines);
  add("forward.spooled_lines", forwarder.spooledLines);
  add("forward.replayed_lines", forwarder.replayedLines);
  for (const [reason, count] of forwarder.dropped) add(`forward.dropped.${metricSegment(reason)}`, count);
  return lines;
}
