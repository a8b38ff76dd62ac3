import { constants } from "node:fs";
import * as fsp from "node:fs/promises";

/**
 * The few file operations DiskQueue needs. Injectable so tests can count bytes written and make
 * the disk fail (ENOSPC, EROFS) at chosen moments; `nodeQueueFs` is the real thing.
 */
export interface QueueFile {
  /** Reads up to `length` bytes at `position`; returns how many were read (0 at end of file). */
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  /** Writes at `position`; returns how many bytes were written (callers loop on short writes). */
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  /** fdatasync: the data and the size needed to read it back survive a power cut. */
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export type QueueFileMode = "read" | "create" | "append";

export interface QueueFs {
  mkdir(dir: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  /** read: existing file, read-only. create: new or emptied, read-write. append: existing or new, read-write, kept. */
  open(path: string, mode: QueueFileMode): Promise<QueueFile>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Makes creations, renames and deletions in `dir` durable. */
  syncDir(dir: string): Promise<void>;
}

const openFlags: Record<QueueFileMode, number> = {
  read: constants.O_RDONLY,
  create: constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC,
  append: constants.O_RDWR | constants.O_CREAT,
};

class NodeQueueFile implements QueueFile {
  constructor(private readonly handle: fsp.FileHandle) {}

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    return (await this.handle.read(buffer, offset, length, position)).bytesRead;
  }

  async write(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    return (await this.handle.write(buffer, offset, length, position)).bytesWritten;
  }

  sync(): Promise<void> {
    return this.handle.datasync();
  }

  truncate(length: number): Promise<void> {
    return this.handle.truncate(length);
  }

  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

export const nodeQueueFs: QueueFs = {
  async mkdir(dir) {
    try {
      await fsp.mkdir(dir, { recursive: true });
    } catch (error) {
      // Node's recursive mkdir reports ENOENT when the filesystem is read-only (it looks the path up
      // after EROFS): one plain mkdir gives the real reason (EROFS, EACCES, or ENOENT after all).
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      await fsp.mkdir(dir);
    }
  },
  readdir: (dir) => fsp.readdir(dir),
  async open(path, mode) {
    return new NodeQueueFile(await fsp.open(path, openFlags[mode], 0o644));
  },
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
  async syncDir(dir) {
    const handle = await fsp.open(dir, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};

/** Writes all of `length` bytes, looping on short writes. */
export async function writeFully(
  file: QueueFile,
  buffer: Buffer,
  offset: number,
  length: number,
  position: number,
): Promise<void> {
  while (length > 0) {
    const written = await file.write(buffer, offset, length, position);
    if (written <= 0) throw new Error("write made no progress");
    offset += written;
    length -= written;
    position += written;
  }
}
