import { parseArgs } from "node:util";
import type { ParseArgsConfig } from "node:util";

/** Exit codes shared by every subcommand. */
export const ExitCode = { Ok: 0, Failure: 1, Usage: 2 } as const;

/** A mistake in how the command was called: exits 2 with the usage text. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface Command {
  readonly name: string;
  readonly usage: string;
  run(argv: readonly string[], io: CommandIo): Promise<number>;
}

export interface CommandIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
  readonly env: NodeJS.ProcessEnv;
}

type OptionSpec = NonNullable<ParseArgsConfig["options"]>;
export type ParsedValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface ParsedCommandArgs {
  readonly values: ParsedValues;
  readonly positionals: string[];
  readonly help: boolean;
}

/** node:util parseArgs with --help built in; unknown flags and bad values become UsageErrors. */
export function parseCommandArgs(
  argv: readonly string[],
  options: OptionSpec,
  allowPositionals = false,
): ParsedCommandArgs {
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals,
      strict: true,
    });
    const values = parsed.values as ParsedValues;
    return { values, positionals: parsed.positionals, help: values.help === true };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function optionalString(values: ParsedValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

export function requireString(values: ParsedValues, name: string): string {
  const value = values[name];
  if (typeof value !== "string" || value.length === 0) throw new UsageError(`missing required --${name}`);
  return value;
}
