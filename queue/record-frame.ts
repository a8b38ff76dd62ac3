import { crc32 } from "./crc32.ts";

/**
 * One record on disk:
 *
 *     varint(payload length) | varint(seq) | payload (UTF-8) | CRC-32 LE of everything before it
 *
 * Varints are LEB128 (7 bits a byte, low bits first). `seq` is the record's position in the
 * queue's whole history (1, 2, 3, …, never reused); carrying it lets a reader tell exactly how
 * many records a damaged stretch held, and drop copies a retried write left behind.
 * For a 90-byte line and a seq below 2^21 that is 1 + 3 + 90 + 4 = 98 bytes.
 */

/** The most a frame adds to its payload: a 3-byte length (payloads stay below 2 MiB), an 8-byte seq, the CRC. */
export const MAX_FRAME_OVERHEAD = 3 + 8 + 4;
/** Seqs are JS numbers; beyond this they stop being exact integers. */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

export function varintBytes(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    bytes++;
  }
  return bytes;
}

export function frameBytes(payloadBytes: number, seq: number): number {
  return varintBytes(payloadBytes) + varintBytes(seq) + payloadBytes + 4;
}

function writeVarint(buffer: Buffer, position: number, value: number): number {
  while (value >= 0x80) {
    buffer[position++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buffer[position++] = value;
  return position;
}

/** Writes one frame at `position` (the caller sized the buffer with frameBytes); returns where it ends. */
export function encodeFrame(
  buffer: Buffer,
  position: number,
  record: string,
  payloadBytes: number,
  seq: number,
): number {
  const start = position;
  position = writeVarint(buffer, position, payloadBytes);
  position = writeVarint(buffer, position, seq);
  position += buffer.write(record, position, payloadBytes, "utf8");
  buffer.writeUInt32LE(crc32(buffer.subarray(start, position)), position);
  return position + 4;
}

/** What decodeFrame found; reused between calls so that reading a segment allocates no objects per record. */
export interface DecodedFrame {
  seq: number;
  payloadStart: number;
  payloadEnd: number;
  /** Where the next frame starts; after FRAME_INCOMPLETE, how far the bytes must reach (0: unknown yet). */
  end: number;
}

export const FRAME_OK = 0;
/** The bytes up to `limit` hold the start of a frame but not all of it. */
export const FRAME_INCOMPLETE = 1;
/** Not a frame: a length or seq out of range, or a CRC mismatch. */
export const FRAME_BAD = 2;
export type FrameStatus = typeof FRAME_OK | typeof FRAME_INCOMPLETE | typeof FRAME_BAD;

const VARINT_INCOMPLETE = -1;
const VARINT_TOO_LONG = -2;

/** Positions in `buffer` are absolute; `limit` is one past the last byte that may be read. */
export function decodeFrame(
  buffer: Buffer,
  position: number,
  limit: number,
  maxPayloadBytes: number,
  out: DecodedFrame,
): FrameStatus {
  const start = position;
  out.end = 0;
  let shift = 1;
  let length = 0;
  for (let index = 0; ; index++) {
    if (position >= limit) return FRAME_INCOMPLETE;
    if (index === 3) return FRAME_BAD;
    const byte = buffer[position++] ?? 0;
    length += (byte & 0x7f) * shift;
    shift *= 0x80;
    if (byte < 0x80) break;
  }
  if (length > maxPayloadBytes) return FRAME_BAD;
  const seq = readSeq(buffer, position, limit);
  if (seq === VARINT_INCOMPLETE) return FRAME_INCOMPLETE;
  if (seq === VARINT_TOO_LONG || seq === 0 || seq > MAX_SEQ) return FRAME_BAD;
  position += varintBytes(seq);
  const payloadEnd = position + length;
  if (payloadEnd + 4 > limit) {
    out.end = payloadEnd + 4;
    return FRAME_INCOMPLETE;
  }
  if (buffer.readUInt32LE(payloadEnd) !== crc32(buffer.subarray(start, payloadEnd))) return FRAME_BAD;
  out.seq = seq;
  out.payloadStart = position;
  out.payloadEnd = payloadEnd;
  out.end = payloadEnd + 4;
  return FRAME_OK;
}

function readSeq(buffer: Buffer, position: number, limit: number): number {
  let shift = 1;
  let value = 0;
  for (let index = 0; index < 8; index++) {
    if (position + index >= limit) return VARINT_INCOMPLETE;
    const byte = buffer[position + index] ?? 0;
    value += (byte & 0x7f) * shift;
    shift *= 0x80;
    // A non-minimal encoding (a trailing zero byte) is never written, so it marks garbage.
    if (byte < 0x80) return byte === 0 && index > 0 ? VARINT_TOO_LONG : value;
  }
  return VARINT_TOO_LONG;
}
