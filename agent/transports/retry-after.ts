/**
 * Parses an HTTP Retry-After header (RFC 9110 §10.2.3): either delay-seconds or an HTTP-date.
 * Returns the wait in milliseconds from `nowMs`, or undefined when the header is absent or unusable
 * (then the caller's own backoff applies). A date in the past means "now", i.e. 0.
 */
export function parseRetryAfter(header: string | undefined, nowMs: number): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Date.parse accepts far more than IMF-fixdate; requiring a letter first keeps bare numbers
  // such as "1.5" or "-3" (not valid delay-seconds) from being read as years.
  if (!/^[A-Za-z]/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}
