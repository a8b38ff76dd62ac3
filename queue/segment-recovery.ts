import type { QueueFs } from "./queue-fs.ts";
import { MAX_SEQ } from "./record-frame.ts";
import type { Damage, ReadBuffer } from "./segment-reader.ts";
import { readFrames } from "./segment-reader.ts";
import { hasSegmentHeader, SEGMENT_HEADER_BYTES, segmentFileName } from "./segment-files.ts";
import type { Segment } from "./segment.ts";
import { deleteSegmentFile, newSegment } from "./segment.ts";

/** How much of a segment to read at a time when scanning it on open (as a peek reads at most). */
const SCAN_WINDOW_BYTES = 1024 * 1024;
const HEAD_WINDOW_BYTES = 4096;

export interface RecoveryContext {
  readonly fs: QueueFs;
  readonly dir: string;
  readonly fsync: boolean;
  readonly maxRecordBytes: number;
  /** Every segment is read into this one buffer. */
  readonly readBuffer: ReadBuffer;
  /** Damage found; `seqBound` is the next segment's first seq (undefined for the last segment). */
  onDamage(segment: Segment, damage: Damage, seqBound: number | undefined): void;
  problem(message: string, error?: unknown): void;
}

export interface RecoveredSegment {
  readonly segment: Segment;
  /** Where its first record above afterSeq starts. */
  readonly headOffset: number;
}

/**
 * Reads one segment through on open, streaming, counting its live records (seq above afterSeq)
 * and cutting a torn tail. Undefined when the file is too short to hold anything (it is deleted).
 */
export async function recoverSegment(
  context: RecoveryContext,
  firstSeq: number,
  nextFirstSeq: number | undefined,
  afterSeq: number,
): Promise<RecoveredSegment | undefined> {
  const segment = newSegment(context.dir, firstSeq);
  const file = await context.fs.open(segment.path, "read");
  let tornAt: number | undefined;
  let headOffset = SEGMENT_HEADER_BYTES;
  try {
    segment.size = await file.size();
    if (segment.size >= SEGMENT_HEADER_BYTES) {
      const header = context.readBuffer.get(SEGMENT_HEADER_BYTES);
      const headerBytes = await file.read(header, 0, SEGMENT_HEADER_BYTES, 0);
      if (!hasSegmentHeader(header, headerBytes)) {
        context.problem(`${segmentFileName(firstSeq)}: unknown header; reading its records anyway`);
      }
      const range = {
        from: SEGMENT_HEADER_BYTES,
        to: segment.size,
        afterSeq,
        seqLimit: nextFirstSeq ?? MAX_SEQ + 1,
        maxPayloadBytes: context.maxRecordBytes,
        windowBytes: SCAN_WINDOW_BYTES,
        skips: segment.skips,
      };
      await readFrames(
        file,
        range,
        context.readBuffer,
        (seq, _buffer, _start, _end, bytes) => {
          segment.live++;
          segment.liveBytes += bytes;
          segment.lastSeq = seq;
          return true;
        },
        (damage) => {
          if (damage.resume === undefined) tornAt = damage.start;
          else segment.skips.set(damage.start, damage.resume);
          context.onDamage(segment, damage, nextFirstSeq);
        },
      );
      if (tornAt !== undefined) segment.size = tornAt;
      if (segment.live > 0) {
        const head = await readFrames(
          file,
          { ...range, to: segment.size, windowBytes: HEAD_WINDOW_BYTES },
          context.readBuffer,
          () => false,
          () => undefined,
        );
        headOffset = head.offset;
      }
    }
  } finally {
    await file.close().catch(() => undefined);
  }
  if (tornAt !== undefined) await cutTornTail(context, segment, tornAt);
  if (segment.size < SEGMENT_HEADER_BYTES) {
    // Created but never written (the power went between the two), or cut down to nothing.
    await deleteSegmentFile(context.fs, segment, context.problem);
    return undefined;
  }
  return { segment, headOffset };
}

/** The one rewrite there is: bytes after the last good record of a segment are cut off. */
async function cutTornTail(context: RecoveryContext, segment: Segment, tornAt: number): Promise<void> {
  try {
    const file = await context.fs.open(segment.path, "append");
    try {
      await file.truncate(tornAt);
      if (context.fsync) await file.sync();
    } finally {
      await file.close();
    }
  } catch (error) {
    // Readers stop at segment.size anyway; the bytes stay until the segment is deleted.
    context.problem(`${segmentFileName(segment.firstSeq)}: could not cut its torn tail`, error);
  }
}
