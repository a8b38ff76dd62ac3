import type { CarbonPoint } from "../../protocol/line.ts";
import type { StampedBatch } from "../clock/clock-guard.ts";
import { metricName } from "./metric-name.ts";

/** Why a stamped reading did not become a line; counted with the agent's other drop reasons. */
export const ReadingDropReason = {
  /** NaN or ±Infinity: Carbon has no way to store it. */
  NonFiniteValue: "reading_non_finite_value",
} as const;
export type ReadingDropReason = (typeof ReadingDropReason)[keyof typeof ReadingDropReason];

/**
 * The last step before signing: full metric names (`<prefix>.<collector>.<name>`, sanitized) and
 * Carbon's text for the value.
 */
export function toCarbonPoints(
  prefix: string,
  batch: StampedBatch,
): { points: CarbonPoint[]; dropped: Partial<Record<ReadingDropReason, number>> } {
  const points: CarbonPoint[] = [];
  let nonFinite = 0;
  for (const reading of batch.readings) {
    if (!Number.isFinite(reading.value)) {
      nonFinite++;
      continue;
    }
    points.push({
      metric: metricName(prefix, batch.collector, reading.name),
      value: formatValue(reading.value),
      timestamp: reading.timestamp,
    });
  }
  return { points, dropped: nonFinite > 0 ? { [ReadingDropReason.NonFiniteValue]: nonFinite } : {} };
}

/** Shortest round-tripping decimal; `-0` is written as `0`. */
export function formatValue(value: number): string {
  return Object.is(value, -0) ? "0" : String(value);
}
