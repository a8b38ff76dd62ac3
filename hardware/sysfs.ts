import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisedFs } from "../runtime/fs/promised-fs.ts";

/**
 * Every reader takes a root, `/` on a device and a fixture tree in tests, and resolves the absolute
 * kernel paths (`/sys/...`, `/proc/...`) under it.
 */
export function underRoot(root: string, absolutePath: string): string {
  return join(root, absolutePath);
}

const ABSENT_CODES = new Set(["ENOENT", "ENOTDIR"]);

function isAbsent(error: unknown): boolean {
  return ABSENT_CODES.has((error as NodeJS.ErrnoException).code ?? "");
}

/** A file's text, or undefined when it does not exist (a board without that sensor). Other errors throw. */
export async function readTextIfPresent(root: string, absolutePath: string): Promise<string | undefined> {
  try {
    return await promisedFs.readFile(underRoot(root, absolutePath), "utf8");
  } catch (error) {
    if (isAbsent(error)) return undefined;
    throw error;
  }
}

/**
 * The same, read synchronously: for /proc files only, which the kernel generates in memory (a
 * read takes microseconds and never waits on a device). An asynchronous readFile costs about ten
 * times the CPU of readFileSync on such a file (measured with fs/promises': it sizes the buffer
 * for a zero-length file and makes four thread-pool round trips), and the system collector reads
 * seven of them every 10 s.
 * Device attributes under /sys stay asynchronous: a driver may sleep (a 1-Wire read takes 750 ms).
 */
export function readProcTextIfPresent(root: string, absolutePath: string): string | undefined {
  try {
    return readFileSync(underRoot(root, absolutePath), "utf8");
  } catch (error) {
    if (isAbsent(error)) return undefined;
    throw error;
  }
}

/** `readdir` of a /proc directory, synchronously for the same reason; empty when missing. */
export function listProcDirIfPresent(root: string, absolutePath: string): string[] {
  try {
    return readdirSync(underRoot(root, absolutePath));
  } catch (error) {
    if (isAbsent(error)) return [];
    throw error;
  }
}

/** A directory's entry names, sorted; empty when the directory does not exist. */
export async function listDirIfPresent(root: string, absolutePath: string): Promise<string[]> {
  try {
    return (await promisedFs.readdir(underRoot(root, absolutePath))).sort(naturalCompare);
  } catch (error) {
    if (isAbsent(error)) return [];
    throw error;
  }
}

const RUNS = /\d+|\D+/g;

/** `cpu2` before `cpu10`. (localeCompare with `numeric` builds a collator per call: far slower.) */
export function naturalCompare(left: string, right: string): number {
  const leftRuns = left.match(RUNS) ?? [];
  const rightRuns = right.match(RUNS) ?? [];
  for (let index = 0; index < Math.min(leftRuns.length, rightRuns.length); index++) {
    const a = leftRuns[index] as string;
    const b = rightRuns[index] as string;
    if (a === b) continue;
    const numeric = /^\d/.test(a) && /^\d/.test(b);
    if (numeric && Number(a) !== Number(b)) return Number(a) - Number(b);
    return a < b ? -1 : 1;
  }
  return leftRuns.length - rightRuns.length;
}

/** Parses a sysfs integer (`48312\n`); undefined for anything else. */
export function parseSysfsInteger(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (!/^-?\d+$/.test(trimmed)) return undefined;
  return Number(trimmed);
}
