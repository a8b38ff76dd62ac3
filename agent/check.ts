import type { LoadedAgentConfig } from "./config/load.ts";
import { deviceKeyPath, loadLineSigner } from "./run/device-key.ts";
import { transportFor } from "./main.ts";

/** One line of `homeward agent --check`: what was checked, and whether it is fine. */
export interface CheckResult {
  readonly ok: boolean;
  readonly text: string;
}

/**
 * Validates the key, then makes a dry run: one signed `<prefix>.self.check 1 <now>` line sent to
 * the server, and the server's verdict on it. That line is a real datapoint (harmless, and it
 * proves the key, the ACL and the clock end to end); tcp and tls have no replies, so for them the
 * check can only say the line was written.
 */
export async function checkAgent(loaded: LoadedAgentConfig, env: NodeJS.ProcessEnv): Promise<CheckResult[]> {
  const results: CheckResult[] = [{ ok: true, text: `config ${loaded.configPath}: valid` }];
  for (const warning of loaded.warnings) results.push({ ok: false, text: `overrides: ${warning}` });
  const config = loaded.config;
  const keyPath = deviceKeyPath(config.keyFile, env);
  let signer;
  try {
    signer = loadLineSigner(keyPath);
    results.push({ ok: true, text: `key ${keyPath}: ${signer.key.algorithm} key "${signer.key.keyId}"` });
  } catch (error) {
    results.push({ ok: false, text: (error as Error).message });
    return results;
  }
  let transport;
  try {
    transport = transportFor(config);
  } catch (error) {
    results.push({ ok: false, text: `server: ${(error as Error).message}` });
    return results;
  }
  const line = signer.sign({
    metric: `${config.prefix}.self.check`,
    value: "1",
    timestamp: Math.floor(Date.now() / 1000),
  });
  try {
    const outcome = await transport.send([line]);
    if (outcome.kind === "delivered") {
      const reasons = Object.entries(outcome.rejected);
      if (reasons.length === 0) {
        const how = transport.target.startsWith("http")
          ? "accepted a signed test line"
          : "took a signed test line (no replies on this transport)";
        results.push({ ok: true, text: `server ${transport.target}: ${how}` });
      } else {
        results.push({
          ok: false,
          text: `server ${transport.target}: refused a signed test line: ${reasons.map(([reason]) => reason).join(", ")}`,
        });
      }
    } else {
      results.push({ ok: false, text: `server ${transport.target}: ${outcome.kind}: ${outcome.why}` });
    }
  } finally {
    await transport.close();
  }
  return results;
}
