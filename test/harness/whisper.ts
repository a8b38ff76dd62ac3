import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { promisify } from "node:util";
import { pollUntil } from "./poll.ts";

const execFileAsync = promisify(execFile);

export const WHISPER_FETCH = "/usr/bin/whisper-fetch";

/** `[timestamp (Unix seconds, start of the archive bucket), value]`. */
export type Point = [timestamp: number, value: number];

/** Inclusive bounds on point timestamps, in Unix seconds. */
export interface FetchRange {
  /** Default: 24 hours before `until`. */
  from?: number;
  /** Default: now. Whisper never returns points later than its own clock's now. */
  until?: number;
}

/** Exactly these points (other points may be present too), at least this many, or a predicate. */
export type Expected = readonly Point[] | number | ((points: Point[]) => boolean);

export interface WaitOptions extends FetchRange {
  /** Default 15 s. */
  timeoutMs?: number;
  /** Pause between whisper-fetch runs (default 100 ms). */
  intervalMs?: number;
  /** Appended to the timeout message, e.g. the carbon-cache log. */
  describe?: () => string;
}

const DAY = 86_400;

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Where carbon keeps `metric`: dots become directories, plus `.wsp`. */
export function metricPath(whisperDir: string, metric: string): string {
  return join(whisperDir, ...metric.split(".")) + ".wsp";
}

/** Python's repr of infinities and NaN is not JSON. */
function parseValue(value: unknown): number | null {
  if (value === null || typeof value === "number") return value;
  if (value === "inf") return Infinity;
  if (value === "-inf") return -Infinity;
  return NaN;
}

/**
 * The stored points of `metric` with timestamps in [from, until], via `whisper-fetch --json`.
 *
 * whisper-fetch itself returns the half-open range (from, until], and reads the whole range from the
 * finest archive that reaches back to `from`: with several archives, a `from` older than the first
 * archive yields coarse (aggregated) points. Throws if the metric has no whisper file; returns []
 * when the range is entirely outside the file's retention.
 */
export async function fetchPoints(
  whisperDir: string,
  metric: string,
  range: FetchRange = {},
): Promise<Point[]> {
  const until = range.until ?? nowSeconds();
  const from = range.from ?? until - DAY;
  const path = metricPath(whisperDir, metric);
  if (!existsSync(path)) {
    throw Object.assign(new Error(`no whisper file for ${metric} (${path})`), { code: "ENOENT" });
  }
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(
      WHISPER_FETCH,
      ["--json", `--from=${from - 1}`, `--until=${until}`, path],
      {
        maxBuffer: 256 * 1024 * 1024,
      },
    ));
  } catch (error) {
    const failure = error as { stderr?: string; message: string };
    if (failure.stderr?.includes("No data in selected timerange")) return [];
    throw new Error(`whisper-fetch ${path} failed: ${failure.stderr?.trim() || failure.message}`, {
      cause: error,
    });
  }
  const json = stdout.replace(/-?\b(?:inf|nan)\b/g, (token) => `"${token}"`);
  const parsed = JSON.parse(json) as { start: number; step: number; values: unknown[] };
  const points: Point[] = [];
  parsed.values.forEach((raw, index) => {
    const value = parseValue(raw);
    const timestamp = parsed.start + index * parsed.step;
    if (value !== null && timestamp >= from && timestamp <= until) points.push([timestamp, value]);
  });
  return points;
}

function formatPoints(points: readonly Point[], limit = 20): string {
  const shown = points.slice(0, limit).map(([t, v]) => `[${t}, ${v}]`);
  if (points.length > limit) shown.push(`… ${points.length - limit} more`);
  return `[${shown.join(", ")}]`;
}

function isSatisfied(expected: Expected, points: Point[]): boolean {
  if (typeof expected === "number") return points.length >= expected;
  if (typeof expected === "function") return expected(points);
  return expected.every(([t, v]) => points.some(([pt, pv]) => pt === t && pv === v));
}

/**
 * Polls whisper until `metric`'s file exists and `expected` holds for its points in the range, and
 * returns those points. Carbon-cache writes its cache out asynchronously, so this is how a test
 * reads back what it sent. With an array of points, the default range is exactly the span of their
 * timestamps; otherwise the last 24 hours. On timeout the error shows what was found.
 */
export async function waitForPoints(
  whisperDir: string,
  metric: string,
  expected: Expected,
  options: WaitOptions = {},
): Promise<Point[]> {
  const range: FetchRange = { from: options.from, until: options.until };
  if (Array.isArray(expected) && expected.length > 0) {
    const timestamps = (expected as readonly Point[]).map(([t]) => t);
    range.from ??= Math.min(...timestamps);
    range.until ??= Math.max(...timestamps);
  }
  const path = metricPath(whisperDir, metric);
  let found: Point[] | undefined;
  let lastError: unknown;
  return pollUntil(
    async () => {
      if (!existsSync(path)) return undefined;
      try {
        found = await fetchPoints(whisperDir, metric, range);
      } catch (error) {
        // Carbon may be halfway through creating the file (an empty file has no header yet).
        lastError = error;
        return undefined;
      }
      lastError = undefined;
      return isSatisfied(expected, found) ? found : undefined;
    },
    {
      timeoutMs: options.timeoutMs ?? 15_000,
      intervalMs: options.intervalMs ?? 100,
      what: `whisper points of ${metric}`,
      describe: () => {
        const wanted =
          typeof expected === "number"
            ? `at least ${expected} point(s)`
            : typeof expected === "function"
              ? "points satisfying the predicate"
              : formatPoints(expected as readonly Point[]);
        const lines = [
          `  expected: ${wanted}`,
          `  range: ${range.from ?? "until - 24h"} .. ${range.until ?? "now"} (now ${nowSeconds()})`,
          found === undefined
            ? `  found: no whisper file at ${path}`
            : `  found (${found.length}): ${formatPoints(found)}`,
        ];
        if (lastError !== undefined) lines.push(`  last whisper-fetch error: ${String(lastError)}`);
        if (options.describe) lines.push(options.describe());
        return lines.join("\n");
      },
    },
  );
}

/** Names of all metrics with a whisper file under `whisperDir`, sorted. */
export async function listMetrics(whisperDir: string): Promise<string[]> {
  const metrics: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && entry.name.endsWith(".wsp")) {
        metrics.push(relative(whisperDir, path).slice(0, -".wsp".length).split(sep).join("."));
      }
    }
  };
  await walk(whisperDir);
  return metrics.sort();
}
