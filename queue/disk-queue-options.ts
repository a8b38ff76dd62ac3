import type { QueueFs } from "./queue-fs.ts";
import { nodeQueueFs } from "./queue-fs.ts";
import { MAX_FRAME_OVERHEAD } from "./record-frame.ts";
import { SEGMENT_HEADER_BYTES } from "./segment-files.ts";

const MiB = 1024 * 1024;

export interface QueueTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface DiskQueueOptions {
  /** Created if missing. One queue per directory: two processes on one directory corrupt it. */
  readonly dir: string;
  /** Bound on the bytes of records held (on disk and not yet written); past it the oldest go. Default 64 MiB. */
  readonly maxBytes?: number;
  /** A new segment file starts past this size. Default 4 MiB, and at most maxBytes / 4. */
  readonly segmentBytes?: number;
  /** Longest record accepted, in UTF-8 bytes; append throws RangeError past it. Default 64 KiB. */
  readonly maxRecordBytes?: number;
  /** Records appended but not yet on disk (the disk is failing, or appends outrun it) are kept up to
   * this many bytes; past it the oldest of them go, counted in droppedUnwritten. Default 8 MiB, at most maxBytes / 2. */
  readonly maxUnwrittenBytes?: number;
  /** Appended records are written (and fsynced) by a timer at most this often, unless flush() is called or a
   * segment's worth is waiting. Default 2000. */
  readonly flushIntervalMs?: number;
  /** fsync segment writes, acks and directory changes. Default true; false only for tests and benchmarks. */
  readonly fsync?: boolean;
  /**
   * 0 (the default): ack() resolves once the cursor is on disk. Above 0: the cursor is written (and
   * fsynced) by a timer at most this often, and on close(); ack() resolves at once. A crash then
   * hands out again up to this many milliseconds of acked records — at-least-once still holds,
   * and a receiver that drops duplicates (the server's dedupe) absorbs them. Meant for SD cards,
   * where an fdatasync per shipped batch is most of the disk traffic.
   */
  readonly ackPersistIntervalMs?: number;
  readonly fs?: QueueFs;
  readonly timers?: QueueTimers;
  /** Told about damage found on disk, failed writes and dropped records (one line each; rate-limit it if you log it). */
  readonly onProblem?: (message: string) => void;
}

/** The options with defaults applied and sizes made consistent. */
export interface DiskQueueSettings {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  readonly maxRecordBytes: number;
  readonly maxUnwrittenBytes: number;
  readonly flushIntervalMs: number;
  readonly fsync: boolean;
  readonly ackPersistIntervalMs: number;
  readonly fs: QueueFs;
  readonly timers: QueueTimers;
  readonly onProblem: (message: string) => void;
}

const defaultTimers: QueueTimers = {
  setTimeout(callback, ms) {
    // Unref'd: a pending flush should not keep a process alive; close() flushes.
    return setTimeout(callback, ms).unref();
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

/**
 * segmentBytes <= maxBytes / 4 and maxUnwrittenBytes <= maxBytes / 2 make sure that whenever the
 * queue is over maxBytes there is a whole sealed segment to drop.
 */
export function resolveDiskQueueSettings(options: DiskQueueOptions): DiskQueueSettings {
  const maxBytes = positiveInteger("maxBytes", options.maxBytes ?? 64 * MiB);
  const segmentBytes = Math.min(
    positiveInteger("segmentBytes", options.segmentBytes ?? 4 * MiB),
    Math.floor(maxBytes / 4),
  );
  const maxRecordBytes = Math.min(
    positiveInteger("maxRecordBytes", options.maxRecordBytes ?? 64 * 1024),
    segmentBytes - SEGMENT_HEADER_BYTES - MAX_FRAME_OVERHEAD,
    2 * MiB - 1,
  );
  if (maxRecordBytes < 64) {
    throw new RangeError(`maxBytes ${maxBytes} is too small for a segment to hold a record`);
  }
  return {
    dir: options.dir,
    maxBytes,
    segmentBytes,
    maxRecordBytes,
    maxUnwrittenBytes: Math.min(
      positiveInteger("maxUnwrittenBytes", options.maxUnwrittenBytes ?? 8 * MiB),
      Math.floor(maxBytes / 2),
    ),
    flushIntervalMs: Math.max(0, options.flushIntervalMs ?? 2000),
    fsync: options.fsync ?? true,
    ackPersistIntervalMs: Math.max(0, options.ackPersistIntervalMs ?? 0),
    fs: options.fs ?? nodeQueueFs,
    timers: options.timers ?? defaultTimers,
    onProblem: options.onProblem ?? (() => undefined),
  };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, not ${value}`);
  }
  return value;
}
