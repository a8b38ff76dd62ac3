import pino from "pino";
import type { DestinationStream, Logger } from "pino";
import type { LogFormat } from "./formats.ts";
import { jsonToLogfmt } from "./logfmt.ts";

export { LOG_FORMATS } from "./formats.ts";
export type { LogFormat } from "./formats.ts";
/** amproxy's level names. */
export type LogLevel = "all" | "err" | "warn" | "info" | "debug";

export const LOG_LEVELS: readonly LogLevel[] = ["all", "err", "warn", "info", "debug"];

const PINO_LEVEL: Readonly<Record<LogLevel, string>> = {
  all: "trace",
  err: "error",
  warn: "warn",
  info: "info",
  debug: "debug",
};

/**
 * pino writing synchronously to fd 1 (pino.destination, not a transport: transports start a
 * worker from a file path, which a bundled binary does not have). logfmt is a re-encoding of
 * pino's JSON line, which is fine at the rates this server logs.
 */
export function createLogger(
  format: LogFormat,
  level: LogLevel,
  destination: DestinationStream = pino.destination({ dest: 1, sync: true }),
): Logger {
  const stream: DestinationStream =
    format === "json" ? destination : { write: (line: string) => destination.write(jsonToLogfmt(line)) };
  return pino(
    {
      level: PINO_LEVEL[level],
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      messageKey: "msg",
    },
    stream,
  );
}
