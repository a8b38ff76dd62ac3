import { join } from "node:path";
import type { QueueFile, QueueFs } from "./queue-fs.ts";
import type { Damage } from "./segment-reader.ts";
import { segmentFileName } from "./segment-files.ts";

/** What DiskQueue keeps in memory per segment file: a few numbers, never its records. */
export interface Segment {
  readonly firstSeq: number;
  readonly path: string;
  /** Bytes readers may read: header plus frames that were written and synced. */
  size: number;
  /** The highest seq written to it. */
  lastSeq: number;
  /** Records in it not yet acked or dropped (for the head segment: those at or after the head). */
  live: number;
  liveBytes: number;
  /** Damaged stretches found in it: start → where good frames resume. */
  readonly skips: Map<number, number>;
  reader: QueueFile | undefined;
  /** Only the active segment has one. */
  writer: QueueFile | undefined;
}

export function newSegment(dir: string, firstSeq: number): Segment {
  return {
    firstSeq,
    path: join(dir, segmentFileName(firstSeq)),
    size: 0,
    lastSeq: 0,
    live: 0,
    liveBytes: 0,
    skips: new Map(),
    reader: undefined,
    writer: undefined,
  };
}

export async function closeSegmentFiles(segment: Segment): Promise<void> {
  const handles = [segment.reader, segment.writer];
  segment.reader = undefined;
  segment.writer = undefined;
  for (const handle of handles) await handle?.close().catch(() => undefined);
}

/** Closes and deletes a segment file; an error other than "already gone" is reported, not thrown. */
export async function deleteSegmentFile(
  fs: QueueFs,
  segment: Segment,
  report: (message: string, error: unknown) => void,
): Promise<void> {
  await closeSegmentFiles(segment);
  try {
    await fs.unlink(segment.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      report(`could not delete ${segmentFileName(segment.firstSeq)}`, error);
    }
  }
}

/**
 * How many records a damaged stretch held, from the seqs on either side of it: the next good
 * record, else `seqBound` (the first seq that cannot be in this segment). A torn tail at the very
 * end of the queue has nothing after it to count against and counts as one record.
 */
export function assessDamage(
  segment: Segment,
  damage: Damage,
  seqBound: number | undefined,
  atMost: number,
): { lost: number; message: string } {
  let lost: number;
  let what: string;
  if (damage.resume !== undefined) {
    lost = (damage.nextGoodSeq ?? 0) - damage.lastGoodSeq - 1;
    what = `bytes ${damage.start}-${damage.resume} damaged (bad CRC or framing), skipped`;
  } else {
    lost = seqBound === undefined ? 1 : seqBound - damage.lastGoodSeq - 1;
    what = `torn tail from byte ${damage.start} cut`;
  }
  lost = Math.max(0, Math.min(lost, atMost));
  return { lost, message: `${segmentFileName(segment.firstSeq)}: ${what}; ${lost} record(s) lost` };
}
