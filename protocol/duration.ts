/**
 * Go's time.ParseDuration syntax (as amproxy's --skew and MAX_SKEW take it: "5m0s", "300ms",
 * "1h30m", "1.5h"), plus "d" for days, since max_age is naturally "7d". Returns milliseconds.
 */
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PART_PATTERN = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)/y;

export class DurationError extends Error {
  override readonly name = "DurationError";
}

export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (trimmed === "0") return 0;
  let rest = trimmed;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest.length === 0) throw new DurationError(`invalid duration "${text}"`);
  let total = 0;
  PART_PATTERN.lastIndex = 0;
  while (PART_PATTERN.lastIndex < rest.length) {
    const match = PART_PATTERN.exec(rest);
    if (!match) {
      throw new DurationError(
        `invalid duration "${text}": expected a number and a unit (ns, us, ms, s, m, h, d)`,
      );
    }
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  }
  return sign * total;
}

/** Formats milliseconds the way Go prints a duration, e.g. 300000 → "5m0s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${rest}ms`;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = rest / 1000;
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}
