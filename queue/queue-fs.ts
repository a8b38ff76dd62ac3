import { constants } from "node:fs";
import { promisedFs as fs } from "../runtime/fs/promised-fs.ts";

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

// The callback API with file descriptors (runtime/fs/promised-fs.ts), not fs/promises and its FileHandle.

/** What a FileHandle throws when used after close. */
function fileClosed(syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error("file closed"), { code: "EBADF", syscall });
}

/**
 * A file descriptor kept as FileHandle keeps one: refused once closed (its number is soon another
 * file's, which a late write would then hit), and closed only after the operations under way end.
 */
class NodeQueueFile implements QueueFile {
  #fd: number | undefined;
  #inFlight = 0;
  #idle: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  constructor(fd: number) {
    this.#fd = fd;
  }

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    return (await this.#use("read", (fd) => fs.read(fd, buffer, offset, length, position))).bytesRead;
  }

  async write(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    return (await this.#use("write", (fd) => fs.write(fd, buffer, offset, length, position))).bytesWritten;
  }

  sync(): Promise<void> {
    return this.#use("fdatasync", fs.fdatasync);
  }

  truncate(length: number): Promise<void> {
    return this.#use("ftruncate", (fd) => fs.ftruncate(fd, length));
  }

  async size(): Promise<number> {
    return (await this.#use("fstat", (fd) => fs.fstat(fd))).size;
  }

  close(): Promise<void> {
    this.#closing ??= this.#closeWhenIdle();
    return this.#closing;
  }

  async #closeWhenIdle(): Promise<void> {
    const fd = this.#fd as number;
    this.#fd = undefined;
    if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    await fs.close(fd);
  }

  async #use<T>(syscall: string, operation: (fd: number) => Promise<T>): Promise<T> {
    if (this.#fd === undefined) throw fileClosed(syscall);
    this.#inFlight++;
    try {
      return await operation(this.#fd);
    } finally {
      if (--this.#inFlight === 0) this.#idle?.();
    }
  }
}

export const nodeQueueFs: QueueFs = {
  async mkdir(dir) {
    try {
      await fs.mkdir(dir, { recursive: true });
    } catch (error) {
      // Node's recursive mkdir reports ENOENT when the filesystem is read-only (it looks the path up
      // after EROFS): one plain mkdir gives the real reason (EROFS, EACCES, or ENOENT after all).
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      await fs.mkdir(dir);
    }
  },
  readdir: (dir) => fs.readdir(dir),
  async open(path, mode) {
    return new NodeQueueFile(await fs.open(path, openFlags[mode], 0o644));
  },
  rename: (from, to) => fs.rename(from, to),
  unlink: (path) => fs.unlink(path),
  async syncDir(dir) {
    const fd = await fs.open(dir, constants.O_RDONLY);
    try {
      await fs.fsync(fd);
    } finally {
      await fs.close(fd);
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
