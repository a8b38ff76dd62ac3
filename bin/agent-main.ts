// `homeward agent` on its own: the single binary's agent bundle (scripts/build/build-binaries.ts
// stores it next to the whole command and bin/sea-main.ts picks it for `homeward agent`), so a
// long-running agent's V8 never holds the source of the server, mqtt's client or the other
// commands (BENCHMARKS.md, "Agent"). Expects the process's arguments as `<exec> <script> agent ...`.
import { useAgentV8Flags } from "./agent-v8.ts";
import { processIo, runCommand } from "./run-command.ts";

async function main(argv: readonly string[]): Promise<number> {
  // V8 flags first, so the agent's own modules are compiled under them (as bin/commands/index.ts).
  useAgentV8Flags();
  const { agentCommand } = await import("./commands/agent.ts");
  return runCommand(agentCommand, argv, processIo());
}

void main(process.argv.slice(3)).then((exitCode) => {
  process.exitCode = exitCode;
});
