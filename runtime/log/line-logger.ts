// The agent's logger: the same lines pino writes (`createLogger` in logger.ts, which the server
// keeps), from a few dozen lines instead of pino and its helpers (sonic-boom, thread-stream,
// worker_threads, assert...), which cost the long-running agent ~3 MiB of RSS on a Pi.
import { writeSync } from "node:fs";
import { jsonToLogfmt } from "./logfmt.ts";
import type { LogFormat } from "./formats.ts";

/** pino's level names, lowest first. */
export const LINE_LOG_LEVELS = ["trace", "debug", "info", "warn", "error"] as const;
export type LineLogLevel = (typeof LINE_LOG_LEVELS)[number];

/** `log.info({ key: value }, "message")`: what the agent's modules call (and pino provides). */
export interface FieldLogger {
  trace(fields: object, message?: string): void;
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

/**
 * One line per call, synchronously, like pino with `pino.destination({ sync: true })`:
 * `{"level":"info","time":"<ISO>",...fields,"msg":"..."}`, or its logfmt re-encoding. Errors in
 * fields are written as pino's err serializer writes them (type, message, stack).
 */
export function createLineLogger(
  format: LogFormat,
  level: LineLogLevel,
  write: (line: string) => void = writeStdout,
): FieldLogger {
  const threshold = LINE_LOG_LEVELS.indexOf(level);
  const method =
    (name: LineLogLevel, rank: number) =>
    (fields: object, message?: string): void => {
      if (rank < threshold) return;
      const json = `${renderJson(name, fields, message)}\n`;
      write(format === "json" ? json : jsonToLogfmt(json));
    };
  return {
    trace: method("trace", 0),
    debug: method("debug", 1),
    info: method("info", 2),
    warn: method("warn", 3),
    error: method("error", 4),
  };
}

export function renderJson(level: LineLogLevel, fields: object, message?: string): string {
  const head = { level, time: new Date().toISOString() };
  const tail = message === undefined ? {} : { msg: message };
  try {
    return JSON.stringify({ ...head, ...fields, ...tail }, serializeValue);
  } catch (error) {
    // A circular structure, say: keep the message rather than lose the line.
    return JSON.stringify({ ...head, log_error: (error as Error).message, ...tail });
  }
}

function serializeValue(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { type: value.name, message: value.message, stack: value.stack };
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** fd 1 may be a non-blocking pipe: retry EAGAIN briefly, as pino's sonic-boom does. */
function writeStdout(line: string): void {
  let buffer = Buffer.from(line, "utf8");
  for (let attempt = 0; buffer.length > 0 && attempt < 1000;) {
    try {
      buffer = buffer.subarray(writeSync(1, buffer));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") return;
      attempt++;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}
