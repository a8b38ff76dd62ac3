import { DiskQueue } from "../../queue/disk-queue.ts";
import type { QueueFs } from "../../queue/queue-fs.ts";
import type { FaultLog } from "./fault-log.ts";
import { MemoryBuffer } from "./memory-buffer.ts";

/** The FaultLog kind of everything about the disk buffer. */
export const BUFFER_FAULT = "buffer";

/** While readings wait in memory, how often opening the disk buffer is tried again. */
export const BUFFER_REOPEN_MS = 10_000;

/** How much may wait in memory while the disk cannot be written: a DiskQueue's own bound. */
export function memoryBoundBytes(maxBytes: number): number {
  return Math.min(8 * 1024 * 1024, Math.floor(maxBytes / 2));
}

export interface AgentBufferOptions {
  readonly dir: string;
  readonly maxBytes: number;
  readonly fs?: QueueFs;
  readonly faults: FaultLog;
  /** For what opening finds (damage, torn tails): said once each, not rate-limited. */
  readonly log: {
    warn(details: object, message: string): void;
    error(details: object, message: string): void;
  };
  readonly now?: () => number;
}

/**
 * Moves the lines from memory to the disk buffer: `move` must run while nothing is in flight (the
 * caller stops its shipper around it, and starts a new one on `AgentBuffer.queue`). A caller that
 * is stopping does not call it; the disk buffer just opened is closed again.
 */
export type MoveToDisk = (move: () => void) => Promise<void>;

/**
 * The agent's buffer: the disk buffer, or, while it cannot be opened (a card that is read-only or
 * failing at boot), a MemoryBuffer in its place, so the agent still collects and ships what it can.
 * Starting anyway beats exiting: systemd would restart an agent that exits, again and again,
 * collecting nothing. Problems go to the FaultLog (once per interval) as `fault=buffer`.
 */
export class AgentBuffer {
  private current: DiskQueue | MemoryBuffer;
  /** Lines a MemoryBuffer dropped before the disk buffer took over from it. */
  private droppedBeforeDisk = 0;
  private lastOpenAttempt: number;
  private opening = false;
  private closed = false;
  private readonly now: () => number;

  private constructor(
    private readonly options: AgentBufferOptions,
    initial: DiskQueue | MemoryBuffer,
  ) {
    this.current = initial;
    this.now = options.now ?? Date.now;
    this.lastOpenAttempt = this.now();
  }

  static async open(options: AgentBufferOptions): Promise<AgentBuffer> {
    try {
      return new AgentBuffer(options, await openDiskBuffer(options));
    } catch (error) {
      const why = reportCannotOpen(options, error);
      return new AgentBuffer(options, new MemoryBuffer(memoryBoundBytes(options.maxBytes), why));
    }
  }

  /** Where lines go now: the disk buffer, or memory while it cannot be opened. */
  get queue(): DiskQueue | MemoryBuffer {
    return this.current;
  }

  /** Lines lost because they could not be written before memory's bound was reached. */
  droppedUnwritten(): number {
    return this.droppedBeforeDisk + this.current.stats().droppedUnwritten;
  }

  /** What keeps the disk buffer from being written, while that lasts (shown by `homeward status`). */
  problem(): string | undefined {
    if (!this.options.faults.active(BUFFER_FAULT)) return undefined;
    return this.current.stats().lastError ?? "the disk buffer cannot be written";
  }

  /**
   * Call as readings come in. In memory: tries the disk buffer again (at most every
   * BUFFER_REOPEN_MS) and, once it opens, has `moveToDisk` move what waits there, in order. On disk:
   * says once that a failing disk works again (a write succeeded: the queue cleared lastError).
   */
  check(moveToDisk: MoveToDisk): void {
    if (this.current instanceof MemoryBuffer) {
      this.retryDisk(moveToDisk);
      return;
    }
    const { faults } = this.options;
    if (faults.active(BUFFER_FAULT) && this.current.stats().lastError === undefined) {
      faults.clear(BUFFER_FAULT, "the disk buffer can be written again", {
        dropped_unwritten: this.droppedUnwritten(),
      });
    }
  }

  /** Closes the buffer in use; rejects, as DiskQueue.close does, when lines only in memory are lost. */
  async close(): Promise<void> {
    this.closed = true;
    await this.current.close();
  }

  private retryDisk(moveToDisk: MoveToDisk): void {
    const now = this.now();
    if (this.opening || this.closed || now - this.lastOpenAttempt < BUFFER_REOPEN_MS) return;
    this.lastOpenAttempt = now;
    this.opening = true;
    openDiskBuffer(this.options)
      .then(
        async (disk) => {
          let tookOver = false;
          if (!this.closed) {
            await moveToDisk(() => {
              this.takeOver(disk);
              tookOver = true;
            });
          }
          if (!tookOver) await disk.close();
        },
        (error: unknown) => void reportCannotOpen(this.options, error),
      )
      .catch((error: unknown) =>
        this.options.log.error(
          { err: error instanceof Error ? error.message : String(error) },
          "moving to the disk buffer failed",
        ),
      )
      .finally(() => {
        this.opening = false;
      });
  }

  private takeOver(disk: DiskQueue): void {
    const memory = this.current as MemoryBuffer;
    // Nothing is in flight now: what waits in memory goes to disk in order, ahead of new lines.
    disk.append(memory.drain());
    this.droppedBeforeDisk += memory.stats().droppedUnwritten;
    this.current = disk;
    this.options.faults.clear(BUFFER_FAULT, "the disk buffer is open; what waited in memory is in it now", {
      dropped_unwritten: this.droppedUnwritten(),
    });
  }
}

/**
 * The disk buffer. What opening finds is logged once each; after that a failing disk repeats the
 * same problem on every flush, and goes to the FaultLog (once per interval).
 */
export async function openDiskBuffer(options: AgentBufferOptions): Promise<DiskQueue> {
  let open = false;
  const queue = await DiskQueue.open({
    dir: options.dir,
    maxBytes: options.maxBytes,
    ...(options.fs !== undefined && { fs: options.fs }),
    // SD-card friendly: the cursor is fdatasynced at most every 2 s, not per shipped batch. A crash
    // resends up to 2 s of acked lines, which the server drops as duplicates.
    ackPersistIntervalMs: 2000,
    onProblem: (problem) => {
      if (open) options.faults.report(BUFFER_FAULT, `disk buffer problem: ${problem}`);
      else options.log.warn({ problem }, "disk buffer problem");
    },
  });
  open = true;
  return queue;
}

/** Logs (once per interval) that the disk buffer cannot be opened; returns why, in words. */
function reportCannotOpen(options: AgentBufferOptions, error: unknown): string {
  const why = `cannot open the disk buffer in ${options.dir}: ${error instanceof Error ? error.message : String(error)}`;
  options.faults.report(BUFFER_FAULT, `${why}; readings wait in memory until it can be opened`);
  return why;
}
