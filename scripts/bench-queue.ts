// DiskQueue throughput on this machine's disk: appends with fsync batching, the scan on reopen,
// and replay (peek + ack, acks fsynced), plus bytes written per line. Prints a markdown table.
//
//   node --import tsx scripts/bench-queue.ts [lines]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiskQueue } from "../queue/disk-queue.ts";
import type { QueueFile, QueueFs } from "../queue/queue-fs.ts";
import { nodeQueueFs } from "../queue/queue-fs.ts";

const lines = Number(process.argv[2] ?? 500_000);
const APPEND_BATCH = 100;

/** A signed Carbon line of typical length (an HMAC signature; about 95 bytes). */
function line(index: number): string {
  return `homeward.grandma-pi.sensor${index % 7}.temp ${(index % 1000) / 10} ${1_700_000_000 + index} grandma-pi c2lnbmF0dXJlLW9mLWxpbmUtbnVtYmVyLQ==`;
}

/** nodeQueueFs, counting the bytes written through it. */
function countingFs(): { fs: QueueFs; written: () => number } {
  let written = 0;
  const wrap = (file: QueueFile): QueueFile => ({
    read: (...args) => file.read(...args),
    async write(...args) {
      const bytes = await file.write(...args);
      written += bytes;
      return bytes;
    },
    sync: () => file.sync(),
    truncate: (length) => file.truncate(length),
    size: () => file.size(),
    close: () => file.close(),
  });
  return {
    fs: { ...nodeQueueFs, open: async (path, mode) => wrap(await nodeQueueFs.open(path, mode)) },
    written: () => written,
  };
}

interface Row {
  readonly fsyncEvery: number;
  readonly appendPerSecond: number;
  readonly scanPerSecond: number;
  readonly replayPerSecond: number;
  readonly bytesPerLine: number;
  readonly payloadPerLine: number;
}

async function run(fsyncEvery: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), "homeward-bench-queue-"));
  try {
    const counter = countingFs();
    const options = { dir, fs: counter.fs, maxBytes: 1024 * 1024 * 1024, flushIntervalMs: 60_000 };
    const queue = await DiskQueue.open(options);
    const appendStart = performance.now();
    for (let index = 0; index < lines; index += APPEND_BATCH) {
      queue.append(batches[index / APPEND_BATCH] ?? []);
      if ((index + APPEND_BATCH) % fsyncEvery === 0) await queue.flush();
    }
    await queue.flush();
    const appendSeconds = (performance.now() - appendStart) / 1000;
    const { droppedUnwritten, droppedOverflow } = queue.stats();
    if (droppedUnwritten + droppedOverflow > 0) {
      throw new Error(
        `dropped ${droppedUnwritten} unwritten and ${droppedOverflow} overflowing lines; flush more often`,
      );
    }
    await queue.close();

    const scanStart = performance.now();
    const reopened = await DiskQueue.open(options);
    const scanSeconds = (performance.now() - scanStart) / 1000;

    const replayStart = performance.now();
    let replayed = 0;
    for (;;) {
      const batch = await reopened.peek(5000, 1024 * 1024);
      if (batch.records.length === 0) break;
      replayed += batch.records.length;
      await reopened.ack(batch);
    }
    const replaySeconds = (performance.now() - replayStart) / 1000;
    await reopened.close();
    if (replayed !== lines) throw new Error(`replayed ${replayed} of ${lines}`);
    return {
      fsyncEvery,
      appendPerSecond: lines / appendSeconds,
      scanPerSecond: lines / scanSeconds,
      replayPerSecond: lines / replaySeconds,
      bytesPerLine: counter.written() / lines,
      payloadPerLine: payloadBytes / lines,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Made up front so that the timings are the queue's, not string formatting's.
const batches: string[][] = [];
let payloadBytes = 0;
for (let index = 0; index < lines; index += APPEND_BATCH) {
  const batch = Array.from({ length: APPEND_BATCH }, (_, offset) => line(index + offset));
  for (const record of batch) payloadBytes += Buffer.byteLength(record) + 1;
  batches.push(batch);
}

const format = (value: number): string => Math.round(value).toLocaleString("en-US");

const rows: Row[] = [];
// Between flushes the lines wait in memory, bounded by maxUnwrittenBytes (8 MiB, ~85k lines).
for (const fsyncEvery of [100, 1_000, 10_000, 50_000]) rows.push(await run(fsyncEvery));

console.log(
  `DiskQueue, ${format(lines)} lines of ~${rows[0]?.payloadPerLine.toFixed(0)} bytes (newline included), fsync on, Node ${process.version}\n`,
);
console.log(
  "| fsync every | append lines/s | reopen scan lines/s | replay (peek+ack) lines/s | bytes written/line | write amplification |",
);
console.log("|---:|---:|---:|---:|---:|---:|");
for (const row of rows) {
  console.log(
    `| ${format(row.fsyncEvery)} lines | ${format(row.appendPerSecond)} | ${format(row.scanPerSecond)} | ` +
      `${format(row.replayPerSecond)} | ${row.bytesPerLine.toFixed(1)} | ${(row.bytesPerLine / row.payloadPerLine).toFixed(3)}x |`,
  );
}
