import * as zlib from "node:zlib";

type Crc32 = (data: Uint8Array) => number;

let table: Uint32Array | undefined;

/** Table-driven CRC-32 (IEEE, as zlib), for Node releases older than 20.15 / 22.2. */
export function crc32Portable(data: Uint8Array): number {
  table ??= makeTable();
  let crc = 0xffffffff;
  for (let index = 0; index < data.length; index++) {
    crc = (table[(crc ^ (data[index] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function makeTable(): Uint32Array {
  const result = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    result[n] = c >>> 0;
  }
  return result;
}

// zlib.crc32 is native and much faster; it exists from Node 20.15 and 22.2 on. Looked up through
// a cast because older releases lack it even though the bundled types declare it.
const native = (zlib as { crc32?: Crc32 }).crc32;

export const crc32: Crc32 = typeof native === "function" ? (data) => native(data) : crc32Portable;
