// The files `homeward provision` copies into a device's folder: the unit, install.sh, uninstall.sh.
// Read from beside this module; the single binary has no files beside it, so the bundle
// (scripts/build/bundle.ts) replaces this module with one holding their text, inlined at build time.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const SYSTEMD_FILES = [
  "homeward-agent.service",
  "homeward-server.service",
  "homeward-server.sysusers",
  "install.sh",
  "uninstall.sh",
] as const;
export type SystemdFile = (typeof SYSTEMD_FILES)[number];

export function systemdFileText(name: SystemdFile): string {
  return readFileSync(join(import.meta.dirname, name), "utf8");
}
