/**
 * Segment files are named after the seq of their first record, zero-padded so that name order is
 * queue order: `0000000000000001.seg`. Every record in a segment has a seq at least its name and
 * below the next segment's name, which bounds how many records a damaged stretch can have held.
 */
export const SEGMENT_SUFFIX = ".seg";
/** "HWQ" and a format version, so that a future format can tell old segments apart. */
export const SEGMENT_HEADER = Buffer.from([0x48, 0x57, 0x51, 0x01]);
export const SEGMENT_HEADER_BYTES = SEGMENT_HEADER.length;

const NAME_DIGITS = 16;
const NAME_PATTERN = /^(\d{16})\.seg$/;

export function segmentFileName(firstSeq: number): string {
  return `${String(firstSeq).padStart(NAME_DIGITS, "0")}${SEGMENT_SUFFIX}`;
}

/** The first seq a segment file name stands for, or undefined when it is not a segment. */
export function parseSegmentFileName(name: string): number | undefined {
  const match = NAME_PATTERN.exec(name);
  if (!match?.[1]) return undefined;
  const seq = Number(match[1]);
  return Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
}

export function hasSegmentHeader(buffer: Buffer, length: number): boolean {
  return length >= SEGMENT_HEADER_BYTES && buffer.subarray(0, SEGMENT_HEADER_BYTES).equals(SEGMENT_HEADER);
}
