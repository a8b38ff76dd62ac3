import { statSync, watch } from "node:fs";
import type { FSWatcher } from "node:fs";
import { dirname } from "node:path";

/** What identifies one version of a file: a rename-on-save or symlink swap changes ino, an edit mtime or size. */
export function fileIdentity(path: string): string {
  try {
    const stat = statSync(path);
    return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  } catch (error) {
    return `missing:${(error as NodeJS.ErrnoException).code ?? "error"}`;
  }
}

export interface FileWatcherOptions {
  /** Also check the files' identity this often, for filesystems where fs.watch misses changes. */
  readonly pollMs: number;
  /** Waits this long after an event, so a save made of several writes is read once. */
  readonly debounceMs?: number;
}

/**
 * Calls `onChange` soon after any of `paths` changes. It watches the directories rather than the
 * files, so a file replaced by rename (editors, config management) or a swapped symlink counts,
 * and it polls the files' identity as a backstop.
 */
export class FileWatcher {
  private readonly watchers: FSWatcher[] = [];
  private readonly identities = new Map<string, string>();
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly paths: readonly string[],
    private readonly onChange: () => void,
    private readonly options: FileWatcherOptions,
  ) {}

  start(): void {
    this.remember();
    for (const directory of new Set(this.paths.map((path) => dirname(path)))) {
      try {
        const watcher = watch(directory, { persistent: false }, () => this.schedule());
        watcher.on("error", () => undefined);
        this.watchers.push(watcher);
      } catch {
        // The poll still catches changes.
      }
    }
    this.pollTimer = setInterval(() => {
      if (this.changed()) this.schedule();
    }, this.options.pollMs);
    this.pollTimer.unref();
  }

  /** Records the files' current identity, so the next check compares against what was just read. */
  remember(): void {
    for (const path of this.paths) this.identities.set(path, fileIdentity(path));
  }

  close(): void {
    for (const watcher of this.watchers) watcher.close();
    this.watchers.length = 0;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
  }

  private changed(): boolean {
    return this.paths.some((path) => this.identities.get(path) !== fileIdentity(path));
  }

  private schedule(): void {
    if (this.debounceTimer) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      if (this.changed()) this.onChange();
    }, this.options.debounceMs ?? 50);
    this.debounceTimer.unref();
  }
}
