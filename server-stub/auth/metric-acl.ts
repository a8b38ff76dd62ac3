/**
 * Which metrics a key may write. Patterns are amproxy's exact names plus Graphite globs:
 * `*`, `?`, `[...]` and `{a,b}` within one segment, and `**` as a whole segment for any number of
 * segments (zero or more). Compiled once per auth-file load.
 */
export interface MetricAcl {
  allows(metric: string): boolean;
}

export class GlobError extends Error {
  override readonly name = "GlobError";
}

const GLOB_CHARS = /[*?[\]{}]/;

function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
}

function segmentToRegex(segment: string, pattern: string): string {
  let out = "";
  let index = 0;
  while (index < segment.length) {
    const char = segment[index] as string;
    if (char === "*") {
      out += "[^.]*";
      index++;
    } else if (char === "?") {
      out += "[^.]";
      index++;
    } else if (char === "[") {
      const close = segment.indexOf("]", index + 1);
      if (close < 0) throw new GlobError(`pattern "${pattern}": unclosed "["`);
      let body = segment.slice(index + 1, close);
      const negate = body.startsWith("!") || body.startsWith("^");
      if (negate) body = body.slice(1);
      if (body.length === 0) throw new GlobError(`pattern "${pattern}": empty "[]"`);
      out += `[${negate ? "^." : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      index = close + 1;
    } else if (char === "{") {
      const close = segment.indexOf("}", index + 1);
      if (close < 0) throw new GlobError(`pattern "${pattern}": unclosed "{"`);
      const options = segment.slice(index + 1, close).split(",");
      out += `(?:${options.map((option) => segmentToRegex(option, pattern)).join("|")})`;
      index = close + 1;
    } else if (char === "]" || char === "}") {
      throw new GlobError(`pattern "${pattern}": unexpected "${char}"`);
    } else {
      out += escapeRegex(char);
      index++;
    }
  }
  return out;
}

/** Compiles a pattern to a regex tested against `metric + "."`, so every segment ends in a dot. */
function globToRegex(pattern: string): RegExp {
  const segments = pattern.split(".");
  if (segments.some((segment) => segment.length === 0)) {
    throw new GlobError(`pattern "${pattern}": empty segment`);
  }
  const source = segments
    .map((segment) => {
      if (segment === "**") return "(?:[^.]+\\.)*";
      if (segment.includes("**")) throw new GlobError(`pattern "${pattern}": "**" must be a whole segment`);
      return `${segmentToRegex(segment, pattern)}\\.`;
    })
    .join("");
  try {
    return new RegExp(`^${source}$`);
  } catch {
    // A character class the regex engine refuses, such as "[z-a]".
    throw new GlobError(`pattern "${pattern}": not a valid glob`);
  }
}

export function compileMetricAcl(patterns: readonly string[]): MetricAcl {
  const exact = new Set<string>();
  const globs: RegExp[] = [];
  for (const pattern of patterns) {
    if (GLOB_CHARS.test(pattern)) globs.push(globToRegex(pattern));
    else exact.add(pattern);
  }
  if (globs.length === 0) return { allows: (metric) => exact.has(metric) };
  // Checked per line: no lookup in an empty set, and no closure per test.
  const hasExact = exact.size > 0;
  return {
    allows: (metric) => {
      if (hasExact && exact.has(metric)) return true;
      const dotted = `${metric}.`;
      for (const glob of globs) if (glob.test(dotted)) return true;
      return false;
    },
  };
}
