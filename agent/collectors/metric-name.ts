/**
 * Metric names are `<prefix>.<collector>.<name>`. Every segment is sanitized so that whatever a
 * collector or an exec script produces (interface names, mount points, URLs, sensor ids) ends up as
 * a name the server's parser accepts (protocol/line.ts `isValidMetric`).
 */

const INVALID_SEGMENT_CHARS = /[^A-Za-z0-9_:-]/g;

/** Anything outside `[A-Za-z0-9_:-]` becomes `_`; an empty segment becomes `_`. */
export function sanitizeSegment(text: string): string {
  const cleaned = text.replace(INVALID_SEGMENT_CHARS, "_");
  return cleaned.length === 0 ? "_" : cleaned;
}

/** Sanitizes each dot-separated segment of a path; empty segments (`a..b`, a leading dot) become `_`. */
export function sanitizePath(path: string): string {
  return path.split(".").map(sanitizeSegment).join(".");
}

/**
 * One segment naming a target (a host, `host:port`, a URL): dots become underscores so the target
 * stays a single segment, and a URL loses its scheme. `1.1.1.1` → `1_1_1_1`,
 * `https://example.org/health` → `example_org_health`.
 */
export function targetSegment(target: string): string {
  const withoutScheme = target.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "");
  const cleaned = withoutScheme.replace(INVALID_SEGMENT_CHARS, "_").replace(/_+/g, "_").replace(/^_|_$/g, "");
  return cleaned.length === 0 ? "_" : cleaned;
}

/** A mount point as one segment: `/` → `root`, `/boot/firmware` → `boot_firmware`. */
export function mountSegment(mountPoint: string): string {
  if (mountPoint === "/") return "root";
  return targetSegment(mountPoint.replace(/\//g, "_"));
}

export function defaultPrefix(device: string): string {
  return `homeward.${sanitizeSegment(device)}`;
}

export function metricName(prefix: string, collector: string, name: string): string {
  return `${sanitizePath(prefix)}.${sanitizePath(collector)}.${sanitizePath(name)}`;
}
