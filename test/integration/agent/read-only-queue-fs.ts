import { nodeQueueFs } from "../../../queue/queue-fs.ts";
import type { QueueFile, QueueFileMode, QueueFs } from "../../../queue/queue-fs.ts";

/**
 * The real disk (nodeQueueFs), except that while `readOnly` is on every write fails with EROFS,
 * through file handles already open too: what a Pi's SD card does when the kernel remounts it
 * read-only after I/O errors. Reads keep working.
 *
 * A fake only for the fault: chmod cannot produce it (it does not stop root, and never stops writes
 * through a handle opened before), and remounting needs privileges a test does not have.
 */
export interface ReadOnlySwitch {
  readonly fs: QueueFs;
  readOnly: boolean;
  /** Writes refused so far. */
  readonly refused: number;
}

export function readOnlyQueueFs(): ReadOnlySwitch {
  let refused = 0;
  const state = { readOnly: false };
  const refuse = (operation: string, path: string): void => {
    if (!state.readOnly) return;
    refused++;
    throw Object.assign(new Error(`EROFS: read-only file system, ${operation} '${path}'`), {
      code: "EROFS",
      errno: -30,
      syscall: operation,
      path,
    });
  };
  const wrapFile = (file: QueueFile, path: string): QueueFile => ({
    read: (buffer, offset, length, position) => file.read(buffer, offset, length, position),
    async write(buffer, offset, length, position) {
      refuse("write", path);
      return file.write(buffer, offset, length, position);
    },
    async sync() {
      refuse("fdatasync", path);
      return file.sync();
    },
    async truncate(length) {
      refuse("ftruncate", path);
      return file.truncate(length);
    },
    size: () => file.size(),
    close: () => file.close(),
  });
  const fs: QueueFs = {
    async mkdir(dir) {
      refuse("mkdir", dir);
      return nodeQueueFs.mkdir(dir);
    },
    readdir: (dir) => nodeQueueFs.readdir(dir),
    async open(path: string, mode: QueueFileMode) {
      if (mode !== "read") refuse("open", path);
      return wrapFile(await nodeQueueFs.open(path, mode), path);
    },
    async rename(from, to) {
      refuse("rename", from);
      return nodeQueueFs.rename(from, to);
    },
    async unlink(path) {
      refuse("unlink", path);
      return nodeQueueFs.unlink(path);
    },
    syncDir: (dir) => nodeQueueFs.syncDir(dir),
  };
  return {
    fs,
    get readOnly() {
      return state.readOnly;
    },
    set readOnly(value: boolean) {
      state.readOnly = value;
    },
    get refused() {
      return refused;
    },
  };
}
