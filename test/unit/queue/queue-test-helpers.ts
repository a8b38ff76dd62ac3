// Test doubles for DiskQueue: a filesystem that counts and fails on demand, timers fired by hand.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { QueueTimers } from "../../../queue/disk-queue.ts";
import type { QueueFile, QueueFileMode, QueueFs } from "../../../queue/queue-fs.ts";
import { nodeQueueFs } from "../../../queue/queue-fs.ts";

/** Timers that fire only when the test says so. */
export class ManualTimers implements QueueTimers {
  private readonly waiting = new Map<number, () => void>();
  private nextId = 1;

  setTimeout(callback: () => void): unknown {
    const id = this.nextId++;
    this.waiting.set(id, callback);
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.waiting.delete(handle as number);
  }

  get armed(): number {
    return this.waiting.size;
  }

  /** Runs every armed timer once; returns how many ran. */
  fireAll(): number {
    const callbacks = [...this.waiting.values()];
    this.waiting.clear();
    for (const callback of callbacks) callback();
    return callbacks.length;
  }
}

export type FaultyOperation = "write" | "sync" | "create" | "rename" | "unlink";

/** A fault to inject: every listed operation fails with `code` (ENOSPC, EROFS, …). */
export interface Fault {
  readonly code: string;
  readonly operations: readonly FaultyOperation[];
  /** Let the first failing write put half its bytes on disk first, as a filling disk does. */
  readonly partialFirstWrite?: boolean;
}

/** The real filesystem, counting the bytes written through it and failing while `fault` is set. */
export class ProbeFs implements QueueFs {
  bytesWritten = 0;
  fault: Fault | undefined;
  /** While set, reads wait for it: a slow disk, to interleave appends with a read in progress. */
  readGate: Promise<void> | undefined;
  readsWaiting = 0;
  /** The memory every read went into, and the most read at once into each. */
  readonly readMemory = new Map<ArrayBufferLike, number>();
  private partialDone = false;

  constructor(private readonly base: QueueFs = nodeQueueFs) {}

  setFault(fault: Fault | undefined): void {
    this.fault = fault;
    this.partialDone = false;
  }

  check(operation: FaultyOperation): void {
    const fault = this.fault;
    if (!fault?.operations.includes(operation)) return;
    throw Object.assign(new Error(`${fault.code}: injected failure of ${operation}`), { code: fault.code });
  }

  mkdir(dir: string): Promise<void> {
    return this.base.mkdir(dir);
  }

  readdir(dir: string): Promise<string[]> {
    return this.base.readdir(dir);
  }

  async open(path: string, mode: QueueFileMode): Promise<QueueFile> {
    if (mode !== "read") this.check("create");
    return new ProbeFile(this, await this.base.open(path, mode));
  }

  async rename(from: string, to: string): Promise<void> {
    this.check("rename");
    await this.base.rename(from, to);
  }

  async unlink(path: string): Promise<void> {
    this.check("unlink");
    await this.base.unlink(path);
  }

  syncDir(dir: string): Promise<void> {
    this.check("sync");
    return this.base.syncDir(dir);
  }

  /** Whether this write should first put half its bytes down (once per fault). */
  takePartial(): boolean {
    if (!this.fault?.partialFirstWrite || this.partialDone) return false;
    this.partialDone = true;
    return true;
  }
}

class ProbeFile implements QueueFile {
  constructor(
    private readonly probe: ProbeFs,
    private readonly file: QueueFile,
  ) {}

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    const gate = this.probe.readGate;
    if (gate) {
      this.probe.readsWaiting++;
      await gate;
      this.probe.readsWaiting--;
    }
    const memory = this.probe.readMemory;
    memory.set(buffer.buffer, Math.max(memory.get(buffer.buffer) ?? 0, offset + length));
    return this.file.read(buffer, offset, length, position);
  }

  async write(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    if (this.probe.fault?.operations.includes("write") && this.probe.takePartial() && length > 1) {
      const written = await this.file.write(buffer, offset, Math.floor(length / 2), position);
      this.probe.bytesWritten += written;
      return written;
    }
    this.probe.check("write");
    const written = await this.file.write(buffer, offset, length, position);
    this.probe.bytesWritten += written;
    return written;
  }

  async sync(): Promise<void> {
    this.probe.check("sync");
    await this.file.sync();
  }

  truncate(length: number): Promise<void> {
    return this.file.truncate(length);
  }

  size(): Promise<number> {
    return this.file.size();
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

/** Segment file paths in queue order. */
export function segmentPaths(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".seg"))
    .sort()
    .map((name) => join(dir, name));
}

/**
 * A full garbage collection, so heap measurements compare live data rather than garbage not yet
 * collected. Uses `gc` when node runs with --expose-gc; otherwise turns the flag on at run time,
 * after which `gc` exists in new contexts. If neither works, measurements are only noisier.
 */
export function collectGarbage(): void {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("typeof gc === 'function' ? gc : undefined") as (() => void) | undefined;
  }
  gc?.();
}
