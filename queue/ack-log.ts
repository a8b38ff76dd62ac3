import { join } from "node:path";
import { crc32 } from "./crc32.ts";
import type { QueueFile, QueueFs } from "./queue-fs.ts";
import { writeFully } from "./queue-fs.ts";

/**
 * The persisted read cursor: "every record with seq <= N has been acked".
 *
 * An append-only log of 12-byte entries (seq as u64 LE, then the CRC-32 of those 8 bytes) rather
 * than a cursor file replaced by write-to-temp + rename on every ack: an ack then costs one
 * 12-byte write and one fdatasync, with no new inode and no directory update each time. A torn
 * entry (power cut mid-write) fails its CRC and the previous entry stands, so a torn ack means at
 * worst that one batch is delivered again. Once the log reaches COMPACT_AT_BYTES it is replaced,
 * by temp + rename, with a single entry.
 */
export const ACK_LOG_NAME = "acked.log";
const ACK_LOG_TEMP_NAME = "acked.log.tmp";
const ENTRY_BYTES = 12;
const COMPACT_AT_BYTES = 4096;

export class AckLog {
  private file: QueueFile | undefined;
  private size = 0;
  private rewriteNeeded: boolean;
  private persisted: number;

  private constructor(
    private readonly fs: QueueFs,
    private readonly dir: string,
    private readonly fsync: boolean,
    ackedSeq: number,
    rewriteNeeded: boolean,
  ) {
    this.persisted = ackedSeq;
    this.rewriteNeeded = rewriteNeeded;
  }

  /** Reads the last good entry. Writes nothing: a missing or damaged log is rewritten by the next record(). */
  static async open(fs: QueueFs, dir: string, fsync: boolean): Promise<AckLog> {
    let contents: Buffer;
    try {
      contents = await readWhole(fs, join(dir, ACK_LOG_NAME));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      return new AckLog(fs, dir, fsync, 0, true);
    }
    let ackedSeq = 0;
    let damaged = contents.length % ENTRY_BYTES !== 0;
    for (let offset = 0; offset + ENTRY_BYTES <= contents.length; offset += ENTRY_BYTES) {
      const entry = contents.subarray(offset, offset + ENTRY_BYTES);
      if (entry.readUInt32LE(8) !== crc32(entry.subarray(0, 8))) {
        damaged = true;
        continue;
      }
      ackedSeq = Math.max(ackedSeq, entry.readUInt32LE(0) + entry.readUInt32LE(4) * 2 ** 32);
    }
    const log = new AckLog(fs, dir, fsync, ackedSeq, damaged || contents.length >= COMPACT_AT_BYTES);
    log.size = contents.length;
    return log;
  }

  /** The highest seq known to be acked on disk. */
  get ackedSeq(): number {
    return this.persisted;
  }

  /** Makes `seq` the persisted cursor; resolves once it is durable. */
  async record(seq: number): Promise<void> {
    if (seq <= this.persisted && !this.rewriteNeeded) return;
    const entry = encodeEntry(Math.max(seq, this.persisted));
    if (this.rewriteNeeded || this.size + ENTRY_BYTES > COMPACT_AT_BYTES) {
      await this.rewrite(entry);
    } else {
      try {
        this.file ??= await this.fs.open(join(this.dir, ACK_LOG_NAME), "append");
        await writeFully(this.file, entry, 0, ENTRY_BYTES, this.size);
        if (this.fsync) await this.file.sync();
      } catch (error) {
        // The entry may be half written; appending after it would misalign every later entry.
        this.rewriteNeeded = true;
        await this.closeFile();
        throw error;
      }
      this.size += ENTRY_BYTES;
    }
    this.persisted = Math.max(seq, this.persisted);
  }

  async close(): Promise<void> {
    await this.closeFile();
  }

  private async rewrite(entry: Buffer): Promise<void> {
    await this.closeFile();
    const temp = join(this.dir, ACK_LOG_TEMP_NAME);
    const file = await this.fs.open(temp, "create");
    try {
      await writeFully(file, entry, 0, ENTRY_BYTES, 0);
      if (this.fsync) await file.sync();
    } finally {
      await file.close();
    }
    await this.fs.rename(temp, join(this.dir, ACK_LOG_NAME));
    if (this.fsync) await this.fs.syncDir(this.dir);
    this.size = ENTRY_BYTES;
    this.rewriteNeeded = false;
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    await file?.close().catch(() => undefined);
  }
}

function encodeEntry(seq: number): Buffer {
  const entry = Buffer.alloc(ENTRY_BYTES);
  entry.writeUInt32LE(seq % 2 ** 32, 0);
  entry.writeUInt32LE(Math.floor(seq / 2 ** 32), 4);
  entry.writeUInt32LE(crc32(entry.subarray(0, 8)), 8);
  return entry;
}

async function readWhole(fs: QueueFs, path: string): Promise<Buffer> {
  const file = await fs.open(path, "read");
  try {
    const size = await file.size();
    const buffer = Buffer.alloc(size);
    let filled = 0;
    while (filled < size) {
      const read = await file.read(buffer, filled, size - filled, filled);
      if (read === 0) break;
      filled += read;
    }
    return buffer.subarray(0, filled);
  } finally {
    await file.close();
  }
}
