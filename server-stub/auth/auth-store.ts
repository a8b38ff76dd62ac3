import type { Logger } from "pino";
import { FileWatcher } from "../files/file-watcher.ts";
import { AuthFileError, loadAuthFile } from "./auth-file.ts";
import type { AuthTable } from "./auth-file.ts";

export interface AuthStoreStats {
  readonly reloads: number;
  readonly reloadErrors: number;
  /** False while the file on disk is broken and the last good table is in use. */
  readonly fileOk: boolean;
  readonly keys: number;
  readonly loadedAtMs: number;
}

/**
 * The auth table in force, reloaded when the file changes (directory watch plus a periodic check)
 * or when asked (SIGHUP). A file that does not load leaves the last good table in place.
 */
export class AuthStore {
  private table: AuthTable;
  private readonly watcher: FileWatcher;
  private reloads = 0;
  private reloadErrors = 0;
  private fileOk = true;
  private loadedAtMs: number;
  private readonly listeners: ((table: AuthTable) => void)[] = [];
  private readonly clock: () => number;

  /** Loads the file now: a broken file at startup is an error, not an empty table. */
  constructor(
    readonly path: string,
    private readonly log: Logger,
    options: { pollMs?: number; clock?: () => number } = {},
  ) {
    this.clock = options.clock ?? Date.now;
    this.table = loadAuthFile(path);
    this.loadedAtMs = this.clock();
    this.watcher = new FileWatcher([path], () => this.reload("changed"), { pollMs: options.pollMs ?? 1000 });
  }

  get current(): AuthTable {
    return this.table;
  }

  start(): void {
    this.watcher.start();
    this.log.info({ auth_file: this.path, keys: this.table.entries.size }, "auth file loaded");
  }

  onReload(listener: (table: AuthTable) => void): void {
    this.listeners.push(listener);
  }

  /** Returns whether the new table is in force. */
  reload(trigger: string): boolean {
    this.watcher.remember();
    try {
      const table = loadAuthFile(this.path);
      this.table = table;
      this.reloads++;
      this.fileOk = true;
      this.loadedAtMs = this.clock();
      this.log.info({ auth_file: this.path, keys: table.entries.size, trigger }, "auth file reloaded");
      for (const listener of this.listeners) listener(table);
      return true;
    } catch (error) {
      if (!(error instanceof AuthFileError)) throw error;
      this.reloadErrors++;
      this.fileOk = false;
      // AuthFileError's problems name keys and fields, never values.
      this.log.error(
        { auth_file: this.path, trigger, problems: error.problems, keys_in_force: this.table.entries.size },
        "auth file not reloaded; keeping the last good table",
      );
      return false;
    }
  }

  stats(): AuthStoreStats {
    return {
      reloads: this.reloads,
      reloadErrors: this.reloadErrors,
      fileOk: this.fileOk,
      keys: this.table.entries.size,
      loadedAtMs: this.loadedAtMs,
    };
  }

  close(): void {
    this.watcher.close();
  }
}
