import { AckLog } from "./ack-log.ts";
import type { DiskQueueOptions, DiskQueueSettings } from "./disk-queue-options.ts";
import { resolveDiskQueueSettings } from "./disk-queue-options.ts";
import type { DurableQueue, QueueBatch, QueueStats } from "./durable-queue.ts";
import { InFlightDrops } from "./in-flight-drops.ts";
import type { QueueFile } from "./queue-fs.ts";
import { writeFully } from "./queue-fs.ts";
import { encodeFrame, frameBytes, MAX_FRAME_OVERHEAD } from "./record-frame.ts";
import type { Damage, FrameVisitor } from "./segment-reader.ts";
import { readFrames, ReadBuffer } from "./segment-reader.ts";
import { parseSegmentFileName, SEGMENT_HEADER, SEGMENT_HEADER_BYTES } from "./segment-files.ts";
import { recoverSegment } from "./segment-recovery.ts";
import { SeqRanges } from "./seq-ranges.ts";
import type { Segment } from "./segment.ts";
import { assessDamage, closeSegmentFiles, deleteSegmentFile, newSegment } from "./segment.ts";

export type { DiskQueueOptions, QueueTimers } from "./disk-queue-options.ts";

const MIN_PEEK_WINDOW_BYTES = 4096;
const MAX_PEEK_WINDOW_BYTES = 1024 * 1024;

export interface DiskQueueStats extends QueueStats {
  /** Records dropped because they could not be written before the in-memory bound was reached. */
  readonly droppedUnwritten: number;
  /** Records appended but not yet durable. */
  readonly unflushed: number;
  readonly segments: number;
  /** The last disk error, until a write succeeds again. */
  readonly lastError: string | undefined;
}

interface UnwrittenRecord {
  readonly seq: number;
  readonly record: string;
  readonly payloadBytes: number;
  readonly frameBytes: number;
}

/** Where a batch from `peek` ends, with enough to ack it without reading it again. */
class DiskQueuePosition {
  constructor(
    readonly owner: DiskQueue,
    /** The seq of the batch's last record: everything up to it is acked. */
    readonly seq: number,
    /** The part of the batch in the last segment it read from, if any. */
    readonly tail: SegmentStretch | undefined,
  ) {}
}

interface SegmentStretch {
  readonly firstSeq: number;
  /** The seq of the last record in the stretch (0: none). */
  readonly lastSeq: number;
  readonly from: number;
  readonly to: number;
  readonly records: number;
  readonly bytes: number;
}

interface Retired {
  readonly segment: Segment;
  /** Deleted once an ack at least this high is on disk (0: dropped records, delete now). */
  readonly afterAckedSeq: number;
}

/**
 * The durable queue on disk: append-only segment files plus an append-only ack log (see
 * README.md for the format). Memory use is bounded by the number of segments and the unwritten
 * buffer, never by the backlog: records are read back from disk only when peeked, into one buffer.
 *
 * Disk operations (flush, peek, ack, deletions) run one at a time, in call order; append is
 * synchronous and only touches memory.
 */
export class DiskQueue implements DurableQueue {
  private readonly segments: Segment[] = [];
  /** What records are read into from disk, on open and by peeks; let go once none are left there. */
  private readonly readBuffer = new ReadBuffer();
  /** The segment flushes write to; the last of `segments` once it holds a record. */
  private active: Segment | undefined;
  /** Offset in segments[0] of the first record not yet consumed. */
  private headOffset = SEGMENT_HEADER_BYTES;
  /** Records at or below this seq are never handed out again (acked, dropped, or copies). */
  private floorSeq: number;
  /** Highest seq acked in this process (on disk: ackLog.ackedSeq, which may lag if writing it failed). */
  private ackedSeq: number;
  private nextSeq = 1;
  private unwritten: UnwrittenRecord[] = [];
  private unwrittenBytes = 0;
  /** Records (and their bytes) the running flush has yet to get onto disk. */
  private inflightCount = 0;
  private inflightBytes = 0;
  private diskRecords = 0;
  private diskBytes = 0;
  private droppedCorrupt = 0;
  private lastError: string | undefined;
  private retired: Retired[] = [];
  /** Bumped whenever append drops segments, so a disk operation that awaited meanwhile starts over. */
  private dropEpoch = 0;
  private tail: Promise<void> = Promise.resolve();
  private timer: unknown;
  private timerDue = 0;
  /** Records the bounds dropped (maxBytes: overflow; maxUnwrittenBytes: unwritten). */
  private readonly drops = new InFlightDrops<"overflow" | "unwritten">();
  /** Armed while acks wait for a timed persist (ackPersistIntervalMs > 0). */
  private ackTimer: unknown;
  private flushFailing = false;
  /** close() was called: no new operations. */
  private closing = false;

  private constructor(
    private readonly settings: DiskQueueSettings,
    private readonly ackLog: AckLog,
  ) {
    this.ackedSeq = ackLog.ackedSeq;
    this.floorSeq = ackLog.ackedSeq;
  }

  /** Opens (creating if needed) the queue in `options.dir`, checking every segment and cutting torn tails. */
  static async open(options: DiskQueueOptions): Promise<DiskQueue> {
    const settings = resolveDiskQueueSettings(options);
    await settings.fs.mkdir(settings.dir);
    const ackLog = await AckLog.open(settings.fs, settings.dir, settings.fsync);
    const queue = new DiskQueue(settings, ackLog);
    await queue.recover();
    return queue;
  }

  append(records: readonly string[]): void {
    if (this.closing) throw new Error("DiskQueue is closed");
    const sizes = records.map((record) => Buffer.byteLength(record, "utf8"));
    const tooLong = sizes.findIndex((size) => size > this.settings.maxRecordBytes);
    if (tooLong >= 0) {
      throw new RangeError(
        `record of ${sizes[tooLong]} bytes is over maxRecordBytes (${this.settings.maxRecordBytes})`,
      );
    }
    for (let index = 0; index < records.length; index++) {
      const payloadBytes = sizes[index] ?? 0;
      const seq = this.nextSeq++;
      const bytes = frameBytes(payloadBytes, seq);
      this.unwritten.push({ seq, record: records[index] ?? "", payloadBytes, frameBytes: bytes });
      this.unwrittenBytes += bytes;
    }
    this.dropOldestSegmentsOverMaxBytes();
    this.dropOldestUnwrittenOverBound();
    this.scheduleFlush();
  }

  flush(): Promise<void> {
    if (this.closing) return Promise.reject(new Error("DiskQueue is closed"));
    return this.run(() => this.flushNow());
  }

  /** maxBytes counts each record's UTF-8 bytes plus one for the newline it gets on the wire; the
   * oldest record is returned even when it alone is over. */
  peek(maxRecords: number, maxBytes = Number.POSITIVE_INFINITY): Promise<QueueBatch> {
    if (this.closing) return Promise.reject(new Error("DiskQueue is closed"));
    return this.run(() => this.peekNow(maxRecords, maxBytes));
  }

  /** Never rejects for a disk error: if the cursor cannot be written the batch still counts as acked here,
   * is reported, and may be delivered again after a restart. */
  ack(batch: QueueBatch): Promise<void> {
    const end = batch.end;
    if (this.closing) return Promise.reject(new Error("DiskQueue is closed"));
    // A position only means something to the queue object that made it: after a crash, the seqs of
    // records that never reached the disk are handed out again.
    if (!(end instanceof DiskQueuePosition) || end.owner !== this) {
      return Promise.reject(new TypeError("not a batch from this DiskQueue's peek"));
    }
    return this.run(() => this.ackNow(end));
  }

  stats(): DiskQueueStats {
    return {
      depth: this.diskRecords + this.inflightCount + this.unwritten.length,
      bytes: this.totalBytes(),
      droppedOverflow: this.drops.count("overflow"),
      droppedCorrupt: this.droppedCorrupt,
      droppedUnwritten: this.drops.count("unwritten"),
      unflushed: this.inflightCount + this.unwritten.length,
      segments: this.segments.length,
      lastError: this.lastError,
    };
  }

  /** Flushes, then releases file handles even if that flush fails (and then rejects with its error). */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.clearTimer();
    this.clearAckTimer();
    this.drops.settle();
    await this.run(async () => {
      let failure: unknown;
      try {
        await this.flushNow();
      } catch (error) {
        failure = error;
      }
      if (this.ackedSeq > this.ackLog.ackedSeq) await this.persistAck();
      await this.deleteRetired();
      for (const segment of [...this.segments, ...this.retired.map((retired) => retired.segment)]) {
        await closeSegmentFiles(segment);
      }
      if (this.active) await closeSegmentFiles(this.active);
      await this.ackLog.close();
      if (failure !== undefined) throw failure;
    });
  }

  // ---- recovery -------------------------------------------------------------------------------

  private async recover(): Promise<void> {
    const { fs, dir, fsync, maxRecordBytes } = this.settings;
    const names = await fs.readdir(dir);
    const firstSeqs = names
      .map(parseSegmentFileName)
      .filter((seq): seq is number => seq !== undefined)
      .sort((a, b) => a - b);
    const context = {
      fs,
      dir,
      fsync,
      maxRecordBytes,
      readBuffer: this.readBuffer,
      onDamage: (segment: Segment, damage: Damage, seqBound: number | undefined) => {
        this.countDamage(segment, damage, seqBound, Number.POSITIVE_INFINITY);
      },
      problem: (message: string, error?: unknown) => this.problem(message, error),
    };
    let last = this.ackedSeq;
    for (let index = 0; index < firstSeqs.length; index++) {
      const recovered = await recoverSegment(context, firstSeqs[index] ?? 0, firstSeqs[index + 1], last);
      if (!recovered) continue;
      const { segment } = recovered;
      last = Math.max(last, segment.lastSeq);
      if (segment.live === 0) {
        // Everything in it was acked, is a copy, or was lost to damage: nothing left to read.
        await this.deleteFile(segment);
        continue;
      }
      if (this.segments.length === 0) this.headOffset = recovered.headOffset;
      this.segments.push(segment);
      this.diskRecords += segment.live;
      this.diskBytes += segment.liveBytes;
    }
    this.nextSeq = last + 1;
    this.dropOldestSegmentsOverMaxBytes();
    this.releaseReadBufferWhenDrained();
    await this.deleteRetired();
  }

  private countDamage(
    segment: Segment,
    damage: Damage,
    seqBound: number | undefined,
    atMost: number,
  ): number {
    const { lost, message } = assessDamage(segment, damage, seqBound, atMost);
    this.droppedCorrupt += lost;
    this.problem(message);
    return lost;
  }

  // ---- writing --------------------------------------------------------------------------------

  private async flushNow(): Promise<void> {
    this.clearTimer();
    if (this.unwritten.length === 0) return;
    const batch = this.unwritten;
    this.inflightCount = batch.length;
    this.inflightBytes = this.unwrittenBytes;
    this.unwritten = [];
    this.unwrittenBytes = 0;
    let index = 0;
    try {
      while (index < batch.length) index = await this.writeChunk(batch, index);
      this.flushFailing = false;
      this.lastError = undefined;
    } catch (error) {
      const kept = batch.slice(index);
      this.unwritten = kept.concat(this.unwritten);
      this.unwrittenBytes += this.inflightBytes;
      this.problem(`writing ${kept.length} record(s) failed; kept in memory for the next try`, error);
      this.flushFailing = true;
      throw error;
    } finally {
      this.inflightCount = 0;
      this.inflightBytes = 0;
      if (this.unwritten.length > 0) {
        this.dropOldestUnwrittenOverBound();
        this.scheduleFlush();
      }
    }
  }

  /** Writes as many records from `index` on as fit in the active segment (starting one if needed), syncs them. */
  private async writeChunk(batch: readonly UnwrittenRecord[], index: number): Promise<number> {
    const { segmentBytes } = this.settings;
    const first = batch[index];
    if (!first) return index;
    if (this.active && this.active.size + first.frameBytes > segmentBytes) await this.sealActive();
    const isNew = this.active === undefined;
    const segment = this.active ?? (await this.startSegment(first.seq));
    const startSize = isNew ? 0 : segment.size;
    let size = isNew ? SEGMENT_HEADER_BYTES : segment.size;
    let end = index;
    let bytes = 0;
    for (; end < batch.length; end++) {
      const record = batch[end];
      if (!record || (end > index && size + record.frameBytes > segmentBytes)) break;
      size += record.frameBytes;
      bytes += record.frameBytes;
    }
    const buffer = Buffer.allocUnsafe(size - startSize);
    let position = 0;
    if (isNew) position += SEGMENT_HEADER.copy(buffer, 0);
    for (let at = index; at < end; at++) {
      const record = batch[at];
      if (record) position = encodeFrame(buffer, position, record.record, record.payloadBytes, record.seq);
    }
    const writer = segment.writer;
    if (!writer) throw new Error("active segment has no open file");
    try {
      await writeFully(writer, buffer, 0, buffer.length, startSize);
      if (this.settings.fsync) {
        await writer.sync();
        // A new file's directory entry must survive a power cut too.
        if (isNew) await this.settings.fs.syncDir(this.settings.dir);
      }
    } catch (error) {
      await this.abandonActive(startSize);
      throw error;
    }
    segment.size = size;
    segment.lastSeq = batch[end - 1]?.seq ?? segment.lastSeq;
    if (isNew) {
      if (this.segments.length === 0) this.headOffset = SEGMENT_HEADER_BYTES;
      this.segments.push(segment);
    }
    segment.live += end - index;
    segment.liveBytes += bytes;
    this.diskRecords += end - index;
    this.diskBytes += bytes;
    this.inflightBytes -= bytes;
    this.inflightCount -= end - index;
    return end;
  }

  private async startSegment(firstSeq: number): Promise<Segment> {
    const segment = newSegment(this.settings.dir, firstSeq);
    // "create" truncates: a file of this name can only be the remains of a failed first write.
    segment.writer = await this.settings.fs.open(segment.path, "create");
    this.active = segment;
    return segment;
  }

  private async sealActive(): Promise<void> {
    const segment = this.active;
    this.active = undefined;
    if (!segment) return;
    const writer = segment.writer;
    segment.writer = undefined;
    await writer?.close().catch(() => undefined);
  }

  /**
   * After a failed write the segment is not written to again: its tail may be torn. The tail is cut
   * if possible; in any case readers stop at the last good size, and a later scan drops the rest.
   */
  private async abandonActive(goodSize: number): Promise<void> {
    const segment = this.active;
    if (!segment) return;
    try {
      await segment.writer?.truncate(goodSize);
    } catch {
      // Reported with the write error; a reopen cuts the tail.
    }
    await this.sealActive();
    if (goodSize === 0) await this.deleteFile(segment);
  }

  // ---- reading --------------------------------------------------------------------------------

  private async peekNow(maxRecords: number, maxBytes: number): Promise<QueueBatch> {
    // A new peek means the last batch was not acked: whatever a bound pushed out of it is lost.
    this.drops.settle();
    for (;;) {
      const epoch = this.dropEpoch;
      const handedOut = new SeqRanges();
      const records: string[] = [];
      let bytes = 0;
      let last = this.floorSeq;
      let tail: SegmentStretch | undefined;
      let full = maxRecords < 1;
      const fits = (payloadBytes: number): boolean => {
        full = records.length >= maxRecords || (records.length > 0 && bytes + payloadBytes + 1 > maxBytes);
        return !full;
      };
      const take = (record: string, payloadBytes: number): void => {
        records.push(record);
        bytes += payloadBytes + 1;
      };
      for (let index = 0; index < this.segments.length && !full; index++) {
        const segment = this.segments[index];
        if (!segment) break;
        const from = index === 0 ? this.headOffset : SEGMENT_HEADER_BYTES;
        if (from >= segment.size) continue;
        let taken = 0;
        let takenBytes = 0;
        const windowBytes = peekWindowBytes(segment, maxRecords - records.length, maxBytes - bytes);
        const result = await this.readSegment(
          segment,
          from,
          last,
          windowBytes,
          (seq, buffer, start, end, size) => {
            if (!fits(end - start)) return false;
            take(buffer.toString("utf8", start, end), end - start);
            handedOut.add(seq);
            taken++;
            takenBytes += size;
            return true;
          },
        );
        last = result.lastSeq;
        tail = {
          firstSeq: segment.firstSeq,
          lastSeq: taken > 0 ? last : 0,
          from,
          to: result.offset,
          records: taken,
          bytes: takenBytes,
        };
        if (this.dropEpoch !== epoch) break;
      }
      if (this.dropEpoch !== epoch) continue;
      for (const record of this.unwritten) {
        if (full || !fits(record.payloadBytes)) break;
        take(record.record, record.payloadBytes);
        handedOut.add(record.seq);
        last = record.seq;
      }
      this.drops.handOut(handedOut);
      return { records, end: new DiskQueuePosition(this, records.length > 0 ? last : this.ackedSeq, tail) };
    }
  }

  private async ackNow(end: DiskQueuePosition): Promise<void> {
    const seq = end.seq;
    this.drops.acked(seq);
    if (seq <= this.ackedSeq) return;
    const diskRecordsBefore = this.diskRecords;
    for (;;) {
      const epoch = this.dropEpoch;
      let consumed = 0;
      let last = this.floorSeq;
      let partial: SegmentStretch | undefined;
      for (const segment of this.segments) {
        if (segment.lastSeq <= seq) {
          consumed++;
          last = Math.max(last, segment.lastSeq);
          continue;
        }
        const from = consumed === 0 ? this.headOffset : SEGMENT_HEADER_BYTES;
        // The batch's own account of its last segment saves reading it again, if the batch ended
        // there and the head has not moved since the peek.
        const hint = end.tail;
        if (hint?.lastSeq === seq && hint.firstSeq === segment.firstSeq && hint.from === from) {
          partial = hint;
        } else {
          partial = await this.stretchUpTo(segment, from, last, seq);
        }
        break;
      }
      if (this.dropEpoch !== epoch) continue;
      this.consume(consumed, partial, seq);
      break;
    }
    this.releaseReadBufferWhenDrained();
    // Records acked before they were ever written leave nothing on disk to come back: no cursor write.
    if (this.diskRecords < diskRecordsBefore || this.retiredWaitingForCursor()) {
      if (this.settings.ackPersistIntervalMs > 0) this.scheduleAckPersist();
      else await this.persistAck();
    }
    await this.deleteRetired();
  }

  private retiredWaitingForCursor(): boolean {
    const persisted = this.ackLog.ackedSeq;
    return this.retired.some((retired) => retired.afterAckedSeq > persisted);
  }

  private scheduleAckPersist(): void {
    if (this.ackTimer !== undefined || this.closing) return;
    this.ackTimer = this.settings.timers.setTimeout(() => {
      this.ackTimer = undefined;
      if (this.closing) return;
      // persistAck reports its own failures; deleteRetired's are reported per file.
      this.run(async () => {
        await this.persistAck();
        await this.deleteRetired();
      }).catch(() => undefined);
    }, this.settings.ackPersistIntervalMs);
  }

  private clearAckTimer(): void {
    if (this.ackTimer === undefined) return;
    this.settings.timers.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  /** The records of `segment` from `from` on with seqs up to `seq`, read from disk. */
  private async stretchUpTo(
    segment: Segment,
    from: number,
    afterSeq: number,
    seq: number,
  ): Promise<SegmentStretch> {
    let records = 0;
    let bytes = 0;
    const result = await this.readSegment(
      segment,
      from,
      afterSeq,
      MAX_PEEK_WINDOW_BYTES,
      (recordSeq, _b, _s, _e, size) => {
        if (recordSeq > seq) return false;
        records++;
        bytes += size;
        return true;
      },
    );
    return { firstSeq: segment.firstSeq, lastSeq: result.lastSeq, from, to: result.offset, records, bytes };
  }

  /** Removes the first `count` segments' records, then `partial` of the next one, then unwritten records up to `seq`. */
  private consume(count: number, partial: SegmentStretch | undefined, seq: number): void {
    for (let index = 0; index < count; index++) {
      const segment = this.segments[0];
      if (!segment) break;
      this.takeFromSegment(segment, segment.live, segment.liveBytes);
      this.floorSeq = Math.max(this.floorSeq, segment.lastSeq);
      if (segment === this.active) {
        this.headOffset = segment.size;
        break;
      }
      this.segments.shift();
      this.headOffset = SEGMENT_HEADER_BYTES;
      this.retire(segment, segment.lastSeq);
    }
    const head = this.segments[0];
    if (partial && head && head.firstSeq === partial.firstSeq) {
      this.takeFromSegment(head, partial.records, partial.bytes);
      this.headOffset = partial.to;
    }
    let taken = 0;
    while (taken < this.unwritten.length && (this.unwritten[taken]?.seq ?? Infinity) <= seq) {
      this.unwrittenBytes -= this.unwritten[taken]?.frameBytes ?? 0;
      taken++;
    }
    this.unwritten.splice(0, taken);
    this.ackedSeq = seq;
    this.floorSeq = Math.max(this.floorSeq, seq);
  }

  private takeFromSegment(segment: Segment, records: number, bytes: number): void {
    const takenRecords = Math.min(records, segment.live);
    const takenBytes = Math.min(bytes, segment.liveBytes);
    segment.live -= takenRecords;
    segment.liveBytes -= takenBytes;
    this.diskRecords -= takenRecords;
    this.diskBytes -= takenBytes;
  }

  private async persistAck(): Promise<void> {
    try {
      await this.ackLog.record(this.ackedSeq);
    } catch (error) {
      this.problem(
        `could not persist the ack cursor (seq ${this.ackedSeq}); those records may come back after a restart`,
        error,
      );
    }
  }

  /** Reads a live segment, accounting for damage found only now (bits rotting under a running queue). */
  private async readSegment(
    segment: Segment,
    from: number,
    afterSeq: number,
    windowBytes: number,
    visit: FrameVisitor,
  ): Promise<{ offset: number; lastSeq: number }> {
    const file = await this.readerFor(segment);
    const position = this.segments.indexOf(segment);
    const seqLimit = this.segments[position + 1]?.firstSeq ?? this.nextSeq;
    return readFrames(
      file,
      {
        from,
        to: segment.size,
        afterSeq,
        seqLimit,
        maxPayloadBytes: this.settings.maxRecordBytes,
        windowBytes,
        skips: segment.skips,
      },
      this.readBuffer,
      visit,
      (damage) => {
        segment.skips.set(damage.start, damage.resume ?? segment.size);
        const lost = this.countDamage(segment, damage, segment.lastSeq + 1, segment.live);
        const lostBytes = Math.min(segment.liveBytes, (damage.resume ?? segment.size) - damage.start);
        this.takeFromSegment(segment, lost, lostBytes);
      },
    );
  }

  /** Nothing left to read from disk (the backlog is through): the read buffer need not stay. */
  private releaseReadBufferWhenDrained(): void {
    if (this.diskRecords === 0) this.readBuffer.release();
  }

  private async readerFor(segment: Segment): Promise<QueueFile> {
    if (segment.writer) return segment.writer;
    segment.reader ??= await this.settings.fs.open(segment.path, "read");
    return segment.reader;
  }

  // ---- bounds ---------------------------------------------------------------------------------

  /**
   * The queue is full: drop whole oldest segments, never touching what is on its way to disk.
   * segmentBytes <= maxBytes / 4 and maxUnwrittenBytes <= maxBytes / 2 guarantee that there is a
   * sealed segment to drop whenever the total is over maxBytes.
   */
  private dropOldestSegmentsOverMaxBytes(): void {
    let dropped = 0;
    while (this.totalBytes() > this.settings.maxBytes) {
      const oldest = this.segments[0];
      if (!oldest || oldest === this.active) break;
      dropped += this.drops.pushedOut("overflow", oldest.firstSeq, oldest.lastSeq, oldest.live);
      this.takeFromSegment(oldest, oldest.live, oldest.liveBytes);
      this.floorSeq = Math.max(this.floorSeq, oldest.lastSeq);
      this.segments.shift();
      this.headOffset = SEGMENT_HEADER_BYTES;
      this.retire(oldest, 0);
      this.dropEpoch++;
    }
    if (dropped > 0) void this.run(() => this.deleteRetired());
  }

  private totalBytes(): number {
    return this.diskBytes + this.inflightBytes + this.unwrittenBytes;
  }

  private dropOldestUnwrittenOverBound(): void {
    let count = 0;
    let bytes = 0;
    while (
      count < this.unwritten.length &&
      this.unwrittenBytes - bytes + this.inflightBytes > this.settings.maxUnwrittenBytes
    ) {
      bytes += this.unwritten[count]?.frameBytes ?? 0;
      count++;
    }
    if (count === 0) return;
    for (const record of this.unwritten.splice(0, count)) this.drops.pushedOut("unwritten", record.seq);
    this.unwrittenBytes -= bytes;
    this.problem(
      `${count} record(s) dropped: more than ${this.settings.maxUnwrittenBytes} bytes waiting to be written`,
    );
  }

  // ---- housekeeping ---------------------------------------------------------------------------

  private retire(segment: Segment, afterAckedSeq: number): void {
    this.retired.push({ segment, afterAckedSeq });
  }

  private async deleteRetired(): Promise<void> {
    const persisted = this.ackLog.ackedSeq;
    const waiting: Retired[] = [];
    for (const retired of this.retired) {
      if (retired.afterAckedSeq > persisted) waiting.push(retired);
      else await this.deleteFile(retired.segment);
    }
    this.retired = waiting;
  }

  private async deleteFile(segment: Segment): Promise<void> {
    await deleteSegmentFile(this.settings.fs, segment, (message, error) => this.problem(message, error));
  }

  private scheduleFlush(): void {
    if (this.closing || this.unwritten.length === 0) return;
    // A segment's worth waiting is written at once: large sequential writes are what an SD card
    // handles best, and it keeps the unwritten buffer from filling. After a failure, retry calmly.
    const soon =
      !this.flushFailing &&
      this.unwrittenBytes >= Math.min(this.settings.segmentBytes, this.settings.maxUnwrittenBytes / 2);
    const delay = soon ? 0 : this.settings.flushIntervalMs;
    if (this.timer !== undefined && this.timerDue <= delay) return;
    this.clearTimer();
    this.timerDue = delay;
    this.timer = this.settings.timers.setTimeout(() => {
      this.timer = undefined;
      // Failures were reported through onProblem and lastError; a timer has no one to throw to.
      this.flush().catch(() => undefined);
    }, delay);
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    this.settings.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Runs disk operations one after another; a failed one does not stop the next. */
  private run<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.tail.then(operation);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private problem(message: string, error?: unknown): void {
    const text =
      error === undefined ? message : `${message}: ${error instanceof Error ? error.message : String(error)}`;
    if (error !== undefined) this.lastError = text;
    try {
      this.settings.onProblem(text);
    } catch {
      // A failing logger must not break the queue.
    }
  }
}

/** Enough to hold the records a peek can return, from what this segment's records weigh on average. */
function peekWindowBytes(segment: Segment, maxRecords: number, maxBytes: number): number {
  const averageFrame = segment.live > 0 ? segment.liveBytes / segment.live : 128;
  // maxBytes counts payload and newline; a frame adds at most MAX_FRAME_OVERHEAD - 1 to that.
  const wanted = Math.min(maxRecords * averageFrame, maxBytes + maxRecords * MAX_FRAME_OVERHEAD);
  return Math.ceil(Math.min(MAX_PEEK_WINDOW_BYTES, Math.max(MIN_PEEK_WINDOW_BYTES, wanted)));
}
