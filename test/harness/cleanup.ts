// Everything a test starts must go away when the test ends, whether it passed or not, and even when
// the test process itself dies. Three layers:
//   1. `disposeAfter(t, resource)` registers `resource.dispose()` with node:test's `t.after()` (or a
//      suite-level `after`), which runs on failure too.
//   2. On process 'exit' (a test that forgot to dispose, an uncaught exception), every process still
//      running is SIGKILLed and every temp dir is removed, synchronously.
//   3. Child processes run under a supervisor that gets SIGTERM when this process dies in any way,
//      SIGKILL included (see process.ts), which 'exit' handlers cannot cover.
import { mkdtempSync, rmSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** node:test's TestContext, or `{ after }` imported from node:test for a suite-wide resource. */
export interface AfterHook {
  after(fn: () => Promise<void>): unknown;
}

export interface Disposable {
  dispose(): Promise<void>;
}

/** Registers `resource.dispose()` to run after the test (or suite) that `hook` belongs to. */
export function disposeAfter<T extends Disposable>(hook: AfterHook | undefined, resource: T): T {
  hook?.after(() => resource.dispose());
  return resource;
}

const processGroups = new Set<number>();
const tempDirs = new Set<string>();
let exitHandlerInstalled = false;

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on("exit", () => {
    for (const pgid of processGroups) {
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Remembers a process group (its leader's pid) to SIGKILL if this process exits first. */
export function trackProcessGroup(pgid: number): void {
  installExitHandler();
  processGroups.add(pgid);
}

export function untrackProcessGroup(pgid: number): void {
  processGroups.delete(pgid);
}

/** A fresh directory under the OS temp dir, removed at process exit unless removed earlier. */
export function makeTempDir(prefix: string): string {
  installExitHandler();
  const dir = mkdtempSync(join(tmpdir(), `homeward-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}
