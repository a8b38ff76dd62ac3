import { ExitCode, UsageError } from "./cli.ts";
import type { Command, CommandIo } from "./cli.ts";

/** Runs one subcommand: usage mistakes exit 2 with its usage text, other errors exit 1. */
export async function runCommand(command: Command, argv: readonly string[], io: CommandIo): Promise<number> {
  try {
    return await command.run(argv, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`homeward ${command.name}: ${error.message}\n\n${command.usage}\n`);
      return ExitCode.Usage;
    }
    io.stderr.write(`homeward ${command.name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return ExitCode.Failure;
  }
}

/** The process's own streams and environment. */
export function processIo(): CommandIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
}
