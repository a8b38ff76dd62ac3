import type { Command } from "../cli.ts";

export interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  /** Loaded only when run, so the agent never pays for the server's modules, and the reverse. */
  readonly load: () => Promise<Command>;
}

/** Every subcommand, in the order `homeward --help` lists them. */
export const commands: readonly CommandEntry[] = [
  {
    name: "keygen",
    summary: "make a device key file and print its auth-file entry",
    load: async () => (await import("./keygen.ts")).keygenCommand,
  },
  {
    name: "sign",
    summary: "sign one line with a device key (amproxy: client signature)",
    load: async () => (await import("./sign.ts")).signCommand,
  },
  {
    name: "verify",
    summary: "check signed lines on stdin against an auth file",
    load: async () => (await import("./verify.ts")).verifyCommand,
  },
  {
    name: "agent",
    summary: "run the agent: collect, sign, buffer on disk and ship (--check to test the setup)",
    // V8 flags first, so the agent's own modules are compiled under them (bin/agent-v8.ts).
    load: async () => {
      (await import("../agent-v8.ts")).useAgentV8Flags();
      return (await import("./agent.ts")).agentCommand;
    },
  },
  {
    name: "server",
    summary: "the verifying proxy in front of Carbon (an amproxy drop-in)",
    load: async () => (await import("./server.ts")).serverCommand,
  },
  {
    name: "test-client",
    summary: "send a signed metric with a random value every interval (amproxy: client test-client)",
    load: async () => (await import("./test-client.ts")).testClientCommand,
  },
  {
    name: "status",
    summary: "say in plain words whether the agent is sending, and what waits to be sent",
    load: async () => (await import("./status.ts")).statusCommand,
  },
  {
    name: "ctl",
    summary: "change a device's config from afar over MQTT (signed), and list devices' presence",
    load: async () => (await import("./ctl.ts")).ctlCommand,
  },
  {
    name: "provision",
    summary: "make a device's key, agent.json, unit and install.sh in one folder for its SD card",
    load: async () => (await import("./provision.ts")).provisionCommand,
  },
];
