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
];
