import packageJson from "../package.json" with { type: "json" };
import { ExitCode } from "./cli.ts";
import type { CommandIo } from "./cli.ts";
import { commands } from "./commands/index.ts";
import { processIo, runCommand } from "./run-command.ts";

const VERSION: string = packageJson.version;

function overview(): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  const lines = commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`);
  return [
    "Usage: homeward <command> [options]",
    "",
    "Signed metrics from family homes into the owner's Graphite.",
    "",
    "Commands:",
    ...lines,
    "",
    "Run `homeward <command> --help` for a command's options. `homeward --version` prints the version.",
  ].join("\n");
}

async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(`${overview()}\n`);
    return name === undefined ? ExitCode.Usage : ExitCode.Ok;
  }
  if (name === "--version" || name === "-v" || name === "version") {
    io.stdout.write(`homeward ${VERSION}\n`);
    return ExitCode.Ok;
  }
  const entry = commands.find((candidate) => candidate.name === name);
  if (!entry) {
    io.stderr.write(`homeward: unknown command "${name}"\n\n${overview()}\n`);
    return ExitCode.Usage;
  }
  return runCommand(await entry.load(), rest, io);
}

void main(process.argv.slice(2), processIo()).then((exitCode) => {
  process.exitCode = exitCode;
});
