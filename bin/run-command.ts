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

/**
 * The process's own streams and environment. stdin is opened only when a command reads it: under
 * systemd it is /dev/null, a file, and Node's file stream for it loads fs/promises, readline and (on
 * Node 24) the REPL history, RSS a long-running agent would carry for nothing (BENCHMARKS.md, "Agent").
 */
export function processIo(): CommandIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    get stdin() {
      return process.stdin;
    },
    env: process.env,
  };
}
