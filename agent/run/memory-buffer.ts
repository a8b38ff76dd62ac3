import type { DurableQueue, QueueBatch } from "../../queue/durable-queue.ts";
import { InFlightDrops } from "../../queue/in-flight-drops.ts";
import { SeqRanges } from "../../queue/seq-ranges.ts";

/** The stats main.ts reads from its buffer: the DurableQueue ones plus what a failing disk costs. */
export interface BufferStats {
  readonly depth: number;
  readonly bytes: number;
  readonly droppedOverflow: number;
  readonly droppedCorrupt: number;
  /** Lines dropped because they could not be written before memory's bound was reached. */
  readonly droppedUnwritten: number;
  /** Lines held only in memory. */
  readonly unflushed: number;
  /** Why the disk cannot be used, until it can. */
  readonly lastError: string | undefined;
}

/** Where a MemoryBuffer batch ends: the number of the last line in it. */
class MemoryPosition {
  constructor(
    readonly owner: MemoryBuffer,
    readonly last: number,
  ) {}
}

/**
 * Stands in for the disk buffer while its directory cannot be opened (a card that is read-only or
 * failing when the agent starts): the same contract minus durability, bounded like the lines a
 * DiskQueue holds unwritten, the oldest dropped first and counted as `droppedUnwritten`. `drain`
 * hands what waits to the disk buffer once it opens.
 */
export class MemoryBuffer implements DurableQueue {
  private lines: { readonly number: number; readonly line: string; readonly bytes: number }[] = [];
  private bytes = 0;
  private nextNumber = 1;
  /** Lines the bound dropped (their line numbers are the seqs). */
  private readonly drops = new InFlightDrops<"unwritten">();

  constructor(
    private readonly maxBytes: number,
    /** Why the disk buffer is not in use, shown as `lastError`. */
    private readonly why: string,
  ) {}

  append(records: readonly string[]): void {
    for (const line of records) {
      const bytes = Buffer.byteLength(line, "utf8") + 1;
      this.lines.push({ number: this.nextNumber++, line, bytes });
      this.bytes += bytes;
    }
    let dropped = 0;
    while (this.bytes > this.maxBytes && dropped < this.lines.length) {
      this.bytes -= this.lines[dropped]?.bytes ?? 0;
      dropped++;
    }
    for (const entry of this.lines.splice(0, dropped)) this.drops.pushedOut("unwritten", entry.number);
  }

  async flush(): Promise<void> {
    // Nothing to write to: the lines stay in memory until the disk buffer opens.
  }

  async peek(maxRecords: number, maxBytes = Number.POSITIVE_INFINITY): Promise<QueueBatch> {
    const handedOut = new SeqRanges();
    const records: string[] = [];
    let bytes = 0;
    let last = 0;
    for (const entry of this.lines) {
      if (records.length >= maxRecords || (records.length > 0 && bytes + entry.bytes > maxBytes)) break;
      records.push(entry.line);
      bytes += entry.bytes;
      last = entry.number;
      handedOut.add(entry.number);
    }
    this.drops.handOut(handedOut);
    return { records, end: new MemoryPosition(this, last) };
  }

  async ack(batch: QueueBatch): Promise<void> {
    const end = batch.end;
    if (!(end instanceof MemoryPosition) || end.owner !== this) {
      throw new TypeError("not a batch from this MemoryBuffer's peek");
    }
    this.drops.acked(end.last);
    let taken = 0;
    while (taken < this.lines.length && (this.lines[taken]?.number ?? Infinity) <= end.last) {
      this.bytes -= this.lines[taken]?.bytes ?? 0;
      taken++;
    }
    this.lines.splice(0, taken);
  }

  stats(): BufferStats {
    return {
      depth: this.lines.length,
      bytes: this.bytes,
      droppedOverflow: 0,
      droppedCorrupt: 0,
      droppedUnwritten: this.drops.count("unwritten"),
      unflushed: this.lines.length,
      lastError: this.why,
    };
  }

  /** Every line waiting, oldest first, now no longer here. Called with no batch in flight. */
  drain(): string[] {
    this.drops.settle();
    const lines = this.lines.map((entry) => entry.line);
    this.lines = [];
    this.bytes = 0;
    return lines;
  }

  /** Like DiskQueue's close when its last write fails: lines still here are lost, and that is an error. */
  async close(): Promise<void> {
    this.drops.settle();
    if (this.lines.length > 0) {
      throw new Error(`${this.lines.length} line(s) were only in memory (${this.why})`);
    }
  }
}
