import { createInterface } from "node:readline";
import { parseDuration } from "../../protocol/duration.ts";
import { parseSignedLine } from "../../protocol/line.ts";
import type { RejectReason } from "../../protocol/reasons.ts";
import { checkSignature } from "../../protocol/verify-line.ts";
import { loadAuthFile } from "../../server-stub/auth/auth-file.ts";
import type { AuthTable } from "../../server-stub/auth/auth-file.ts";
import {
  checkAcl,
  checkTimeWindow,
  DEFAULT_MAX_AGE_MS,
  DEFAULT_SKEW_MS,
  lookUpKey,
} from "../../server-stub/checks/steps.ts";
import type { TimeWindow } from "../../server-stub/checks/steps.ts";
import { ExitCode, optionalString, parseCommandArgs, requireString } from "../cli.ts";
import type { Command } from "../cli.ts";

const USAGE = `Usage: homeward verify --auth-file <file> [--check-time [--skew 5m0s] [--max-age 7d]] < lines

Reads signed lines on stdin and prints one verdict per line: "<n> ok" or "<n> reject <reason>: <detail>".
Checks the format, the key, its ACL and the signature; with --check-time also the time window
against this machine's clock. Exits 0 when every line passed, 1 otherwise.`;

function verdict(text: string, table: AuthTable, window: TimeWindow | undefined): RejectReason | string {
  const parsed = parseSignedLine(text);
  if (!parsed.ok) return `${parsed.reason}: ${parsed.detail}`;
  const line = parsed.line;
  const key = lookUpKey(line, table);
  if ("reason" in key) return key.reason;
  const reason =
    checkAcl(line, key.entry) ??
    (window ? checkTimeWindow(line, key.entry, Date.now(), window) : undefined) ??
    checkSignature(line, key.entry.algorithm, key.entry.verifiers);
  return reason ?? "ok";
}

export const verifyCommand: Command = {
  name: "verify",
  usage: USAGE,
  async run(argv, io) {
    const { values, help } = parseCommandArgs(argv, {
      "auth-file": { type: "string" },
      "check-time": { type: "boolean" },
      skew: { type: "string" },
      "max-age": { type: "string" },
    });
    if (help) {
      io.stdout.write(`${USAGE}\n`);
      return ExitCode.Ok;
    }
    const table = loadAuthFile(requireString(values, "auth-file"));
    const skew = optionalString(values, "skew");
    const maxAge = optionalString(values, "max-age");
    const window: TimeWindow | undefined =
      values["check-time"] === true
        ? {
            skewMs: skew ? parseDuration(skew) : DEFAULT_SKEW_MS,
            maxAgeMs: maxAge ? parseDuration(maxAge) : DEFAULT_MAX_AGE_MS,
          }
        : undefined;
    let number = 0;
    let allGood = true;
    for await (const text of createInterface({ input: io.stdin, crlfDelay: Infinity })) {
      number++;
      const result = verdict(text, table, window);
      if (result === "ok") {
        io.stdout.write(`${number} ok\n`);
      } else {
        allGood = false;
        io.stdout.write(`${number} reject ${result}\n`);
      }
    }
    return allGood ? ExitCode.Ok : ExitCode.Failure;
  },
};
