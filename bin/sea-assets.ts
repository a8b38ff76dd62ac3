/**
 * The single executable's SEA assets (scripts/build/build-binaries.ts stores the bundles under these
 * names; bin/sea-main.ts picks one): the whole command, and the agent alone.
 */
export const SEA_ASSETS = { cli: "homeward.cjs", agent: "agent.cjs" } as const;

/**
 * npm packages the agent's bundle leaves out, each bundled as an asset of its own and run at its
 * first import: mqtt's client (the control channel and the mqtt collector and transport) and conf
 * with ajv (writing remote overrides). The default config needs neither, and V8 keeps the agent's
 * bundle as a string for as long as it runs: 0.93 MB with them, 0.33 MB without
 * (BENCHMARKS.md, "Agent"). `exports` are the names the agent imports from each.
 */
export const SEA_PACKAGES = {
  mqtt: { asset: "agent-mqtt.cjs", exports: ["connect"] },
  conf: { asset: "agent-conf.cjs", exports: ["default"] },
} as const satisfies Record<string, { readonly asset: string; readonly exports: readonly string[] }>;

/** What the agent's bundle requires an asset as: `require("homeward-sea-asset:agent-mqtt.cjs")`. */
export const SEA_ASSET_PREFIX = "homeward-sea-asset:";
