import type { DecodedFrame } from "./record-frame.ts";
import { decodeFrame, FRAME_INCOMPLETE, FRAME_OK, MAX_FRAME_OVERHEAD } from "./record-frame.ts";
import type { QueueFile } from "./queue-fs.ts";

/** A stretch of one segment, read front to back. Offsets are file offsets. */
export interface FrameRange {
  readonly from: number;
  /** One past the last byte that may hold frames (the segment's known size). */
  readonly to: number;
  /** Records with a seq at or below this are skipped: acked already, or a copy a retried write left. */
  readonly afterSeq: number;
  /** Seqs at or above this cannot be in this segment (the next segment's first seq). */
  readonly seqLimit: number;
  readonly maxPayloadBytes: number;
  /** How much to read at a time. */
  readonly windowBytes: number;
  /** Damaged stretches found before (start → where good frames resume), jumped without a second report. */
  readonly skips?: ReadonlyMap<number, number>;
}

/** Bytes at `start` that are not a frame (bad CRC, impossible length or seq, cut short). */
export interface Damage {
  readonly start: number;
  /** Where the next good frame starts; undefined when none follows before `to` (a torn tail). */
  readonly resume: number | undefined;
  /** The seq of the last good record before the damage (or afterSeq). */
  readonly lastGoodSeq: number;
  /** The seq of the record at `resume`. */
  readonly nextGoodSeq: number | undefined;
}

/** Called per good record, oldest first; return false to stop before it (it is then not consumed). */
export type FrameVisitor = (
  seq: number,
  buffer: Buffer,
  payloadStart: number,
  payloadEnd: number,
  frameBytes: number,
) => boolean;

export interface FrameReadResult {
  /** Where reading stopped: `to`, the frame the visitor refused, or the start of a torn tail. */
  readonly offset: number;
  readonly lastSeq: number;
  /** The visitor said stop. */
  readonly stopped: boolean;
}

const MIN_READ_BUFFER_BYTES = 4096;

/**
 * The memory readFrames reads into, kept by its owner and reused from one call to the next, so that
 * scanning many segments or replaying many batches holds one window, whenever the garbage collector
 * runs. A fresh window per call (an external ArrayBuffer, outliving a minor GC while it is read)
 * waits for a full GC; a scan allocates little else on the V8 heap, so that came only at V8's
 * external-memory limit: up to 64 MiB of dead windows.
 */
export class ReadBuffer {
  private buffer: Buffer = Buffer.alloc(0);

  /**
   * At least `size` bytes (holding what was read last). It grows in powers of two, so sizes that
   * creep up (a peek's window follows the records' average size) do not mean a new buffer each time.
   */
  get(size: number): Buffer {
    if (this.buffer.length < size) {
      // Its own memory, never a slice of Node's shared pool (which a small allocUnsafe may be, and
      // which it would then keep alive for as long as it is reused).
      this.buffer = Buffer.allocUnsafeSlow(2 ** Math.ceil(Math.log2(Math.max(size, MIN_READ_BUFFER_BYTES))));
    }
    return this.buffer;
  }

  /** Lets the memory go; the next `get` allocates again. */
  release(): void {
    if (this.buffer.length > 0) this.buffer = Buffer.alloc(0);
  }
}

/**
 * Reads the frames in a range into `buffer`, holding at most one window (plus one frame).
 *
 * After damage it resyncs rather than giving up on the rest of the segment: it looks, byte by
 * byte, for the next offset where a frame with a plausible seq passes its CRC and is followed by
 * another such frame (or by the end of the range). Zeroed or random bytes fail the cheap checks
 * (seq 0, seq out of range, length too big) before any CRC is computed.
 */
export async function readFrames(
  file: QueueFile,
  range: FrameRange,
  buffer: ReadBuffer,
  visit: FrameVisitor,
  onDamage: (damage: Damage) => void,
): Promise<FrameReadResult> {
  const window = new ReadWindow(file, buffer, range.to, range.windowBytes);
  const frame: DecodedFrame = { seq: 0, payloadStart: 0, payloadEnd: 0, end: 0 };
  const maxFrameBytes = range.maxPayloadBytes + MAX_FRAME_OVERHEAD;
  let offset = range.from;
  let last = range.afterSeq;
  while (offset < window.end) {
    const skipTo = range.skips?.get(offset);
    if (skipTo !== undefined) {
      offset = skipTo;
      continue;
    }
    if (!window.holds(offset, 1)) await window.load(offset, 1);
    let status = decodeFrame(
      window.buffer,
      offset - window.start,
      window.length,
      range.maxPayloadBytes,
      frame,
    );
    if (status === FRAME_INCOMPLETE && window.start + window.length < window.end) {
      const needed = frame.end > 0 ? frame.end - (offset - window.start) : maxFrameBytes;
      await window.load(offset, needed);
      status = decodeFrame(window.buffer, offset - window.start, window.length, range.maxPayloadBytes, frame);
    }
    if (status === FRAME_OK && frame.seq < range.seqLimit) {
      const frameEnd = window.start + frame.end;
      if (frame.seq > last) {
        if (!visit(frame.seq, window.buffer, frame.payloadStart, frame.payloadEnd, frameEnd - offset)) {
          return { offset, lastSeq: last, stopped: true };
        }
        last = frame.seq;
      }
      offset = frameEnd;
      continue;
    }
    const found = await resync(window, offset + 1, last, range, frame);
    onDamage({ start: offset, resume: found?.offset, lastGoodSeq: last, nextGoodSeq: found?.seq });
    if (!found) return { offset, lastSeq: last, stopped: false };
    offset = found.offset;
  }
  return { offset: Math.min(offset, window.end), lastSeq: last, stopped: false };
}

async function resync(
  window: ReadWindow,
  from: number,
  last: number,
  range: FrameRange,
  frame: DecodedFrame,
): Promise<{ offset: number; seq: number } | undefined> {
  const maxFrameBytes = range.maxPayloadBytes + MAX_FRAME_OVERHEAD;
  // Two frames must fit in the window to confirm a candidate; reload well before that runs out.
  const lookahead = 2 * maxFrameBytes;
  for (let candidate = from; candidate < window.end; candidate++) {
    if (!window.holds(candidate, Math.min(lookahead, window.end - candidate))) {
      await window.load(candidate, 2 * lookahead);
    }
    const at = candidate - window.start;
    if (decodeFrame(window.buffer, at, window.length, range.maxPayloadBytes, frame) !== FRAME_OK) continue;
    const seq = frame.seq;
    if (seq <= last || seq >= range.seqLimit) continue;
    const next = frame.end;
    if (window.start + next === window.end) return { offset: candidate, seq };
    const status = decodeFrame(window.buffer, next, window.length, range.maxPayloadBytes, frame);
    if (status === FRAME_OK && frame.seq > seq && frame.seq < range.seqLimit)
      return { offset: candidate, seq };
  }
  return undefined;
}

/** Bytes [start, start + length) of the file, in the caller's ReadBuffer. */
class ReadWindow {
  buffer: Buffer = Buffer.alloc(0);
  start = 0;
  length = 0;

  constructor(
    private readonly file: QueueFile,
    private readonly memory: ReadBuffer,
    /** The end of the range; lowered if the file turns out shorter. */
    public end: number,
    private readonly windowBytes: number,
  ) {}

  holds(offset: number, bytes: number): boolean {
    return offset >= this.start && offset + bytes <= this.start + this.length;
  }

  /** Reads at least `bytes` (or up to the end) from `offset`, and a whole window when there is that much. */
  async load(offset: number, bytes: number): Promise<void> {
    const size = Math.min(Math.max(this.windowBytes, bytes), this.end - offset);
    this.buffer = this.memory.get(size);
    let filled = 0;
    while (filled < size) {
      const read = await this.file.read(this.buffer, filled, size - filled, offset + filled);
      if (read === 0) {
        this.end = offset + filled;
        break;
      }
      filled += read;
    }
    this.start = offset;
    this.length = filled;
  }
}
