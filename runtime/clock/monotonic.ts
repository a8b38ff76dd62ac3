const ORIGIN_NS = process.hrtime.bigint();
const NS_PER_MS = 1_000_000;

/**
 * Monotonic milliseconds since this module was loaded: what `performance.now()` gives, without it.
 * The global `performance` loads all of perf_hooks' internals on its first use (internal/perf/*,
 * internal/histogram), which a long-running agent would carry as RSS for nothing
 * (BENCHMARKS.md, "Agent").
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() - ORIGIN_NS) / NS_PER_MS;
}
