// The agent's V8 settings, applied at run time so they reach every way it is started (npx, the
// single binary, a unit) and no other command: the server is CPU-bound and keeps V8's defaults.
import { setFlagsFromString } from "node:v8";

/**
 * What `--lite-mode` implies, spelt out: Node 24's V8 does not re-derive implied flags when
 * `--lite-mode` is set after start-up (Node 20's does), and Node 24 refuses it in NODE_OPTIONS
 * and the single binary takes no node flags on its command line. The agent wakes every few
 * seconds to read /proc and sign a few dozen lines: the interpreter is fast enough, and without
 * the optimizing compilers, their code and feedback, and with a young generation that stays at
 * its minimum, the steady RSS drops by about 25-30 MiB (BENCHMARKS.md, "Agent").
 */
export const AGENT_V8_FLAGS: readonly string[] = [
  "--no-turbofan",
  "--no-maglev",
  "--no-sparkplug",
  "--optimize-for-size",
];

/** Set to `default` to run the agent with V8's own settings (for comparing, in bench-agent). */
export const AGENT_V8_ENV = "HOMEWARD_AGENT_V8";

/** Applies AGENT_V8_FLAGS unless the environment says not to; returns whether it did. */
export function useAgentV8Flags(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env[AGENT_V8_ENV] === "default") return false;
  for (const flag of AGENT_V8_FLAGS) setFlagsFromString(flag);
  return true;
}
