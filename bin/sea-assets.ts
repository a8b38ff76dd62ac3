/**
 * The single executable's SEA assets (scripts/build/build-binaries.ts stores the bundles under these
 * names; bin/sea-main.ts picks one): the whole command, and the agent alone.
 */
export const SEA_ASSETS = { cli: "homeward.cjs", agent: "agent.cjs" } as const;
