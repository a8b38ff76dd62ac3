/**
 * Graphite path patterns in dashboard targets, and the documented metric names of the agent's
 * collectors, so a test can check that every target asks for something that exists.
 */

/** `a.{b,c}.d` → `a.b.d`, `a.c.d` (nested braces are not used here). */
export function expandBraces(pattern: string): string[] {
  const match = /\{([^{}]*)\}/.exec(pattern);
  if (!match) return [pattern];
  const before = pattern.slice(0, match.index);
  const after = pattern.slice(match.index + match[0].length);
  return (match[1] as string).split(",").flatMap((choice) => expandBraces(`${before}${choice}${after}`));
}

/** The metric paths in a Graphite target: every run starting at `prefix`, commas inside braces kept. */
export function pathsInTarget(target: string, prefix = "homeward."): string[] {
  const paths: string[] = [];
  let from = target.indexOf(prefix);
  while (from >= 0) {
    let depth = 0;
    let end = from;
    for (; end < target.length; end++) {
      const char = target[end] as string;
      if (char === "{") depth++;
      else if (char === "}") depth--;
      else if (depth === 0 && /[,)\s"]/.test(char)) break;
    }
    paths.push(target.slice(from, end));
    from = target.indexOf(prefix, end);
  }
  return paths;
}

/** One Graphite glob segment (`*`, `?`, `[..]`) as a regex. */
function segmentRegex(segment: string): RegExp {
  const source = segment
    .replace(/[.+^$()|\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${source}$`);
}

/**
 * Whether the glob `pattern` (braces already expanded) can match `name`, where a `*` segment of
 * `name` is a documented placeholder (`<mount>`, `<target>`) that stands for any value.
 */
export function globMatches(pattern: string, name: string): boolean {
  const patternSegments = pattern.split(".");
  const nameSegments = name.split(".");
  if (patternSegments.length !== nameSegments.length) return false;
  return patternSegments.every((segment, index) => {
    const nameSegment = nameSegments[index] as string;
    return nameSegment === "*" || segmentRegex(segment).test(nameSegment);
  });
}

const COLLECTORS = new Set(["system", "pi", "net", "exec", "self"]);

/**
 * The metric names documented in the collectors' README tables, relative to `<prefix>`
 * (`system.cpu.busy_pct`), with `<placeholders>` as `*` and braces expanded. A name written as
 * `.used_pct` after another is relative to that one's parent (`system.disk.<mount>.used_pct`).
 */
export function documentedMetricNames(readme: string): string[] {
  const names: string[] = [];
  for (const row of readme.split("\n").filter((line) => line.startsWith("|"))) {
    const firstCell = row.split("|")[1] ?? "";
    let previous: string | undefined;
    for (const [, raw] of firstCell.matchAll(/`([^`]+)`/g)) {
      const text = (raw as string).replace(/<[^>]+>/g, "*");
      let name: string | undefined;
      if (text.startsWith(".") && previous !== undefined) {
        name = `${previous.slice(0, previous.lastIndexOf("."))}${text}`;
      } else if (COLLECTORS.has(text.split(".")[0] as string) && text.includes(".")) {
        name = text;
      }
      if (name === undefined) continue;
      previous = name;
      names.push(...expandBraces(name));
    }
  }
  return names;
}
