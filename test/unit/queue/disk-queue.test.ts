import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  appendFileSync,
  cpSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
  closeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { crc32, crc32Portable } from "../../../queue/crc32.ts";
import type { DiskQueueOptions } from "../../../queue/disk-queue.ts";
import { DiskQueue } from "../../../queue/disk-queue.ts";
import { encodeFrame, frameBytes } from "../../../queue/record-frame.ts";
import { peekAll, runDurableQueueContract, sampleLine, sampleLines } from "./durable-queue.contract.ts";
import { collectGarbage, ManualTimers, ProbeFs, segmentPaths } from "./queue-test-helpers.ts";

runDurableQueueContract("DiskQueue, agent-like (64 MiB, 4 MiB segments)", (dir, options) =>
  DiskQueue.open({ dir, ...options }),
);

runDurableQueueContract(
  "DiskQueue, server-spool-like (small segments, short flush interval)",
  (dir, options) => DiskQueue.open({ dir, segmentBytes: 2048, flushIntervalMs: 20, ...options }),
);

const SEGMENT_HEADER_BYTES = 4;

/** Where record `index` (0-based, seq index + 1) starts in the first segment of a fresh queue. */
function frameOffset(records: readonly string[], index: number): number {
  let offset = SEGMENT_HEADER_BYTES;
  for (let at = 0; at < index; at++) offset += frameBytes(Buffer.byteLength(records[at] ?? ""), at + 1);
  return offset;
}

function flipByte(path: string, offset: number): void {
  const fd = openSync(path, "r+");
  try {
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, offset);
    byte[0] = (byte[0] ?? 0) ^ 0x5a;
    writeSync(fd, byte, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

describe("DiskQueue", () => {
  let root: string;
  const problems: string[] = [];
  const toClose: DiskQueue[] = [];

  const open = async (dir: string, options: Partial<DiskQueueOptions> = {}): Promise<DiskQueue> => {
    const queue = await DiskQueue.open({ dir, onProblem: (message) => problems.push(message), ...options });
    toClose.push(queue);
    return queue;
  };
  const closeAll = async (): Promise<void> => {
    for (const queue of toClose.splice(0)) await queue.close().catch(() => undefined);
  };
  /** Writes `records` to a fresh queue in one flush and closes it; returns its directory. */
  const writeQueue = async (
    records: readonly string[],
    options: Partial<DiskQueueOptions> = {},
  ): Promise<string> => {
    const dir = join(root, `q${toClose.length}-${Math.random().toString(36).slice(2)}`);
    const queue = await open(dir, options);
    queue.append(records);
    await queue.close();
    return dir;
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "homeward-disk-queue-"));
    problems.length = 0;
  });

  afterEach(async () => {
    await closeAll();
    rmSync(root, { recursive: true, force: true });
  });

  describe("torn tails", () => {
    test("a record cut short at the end is found, cut off the file and counted; the rest is delivered", async () => {
      const records = sampleLines(0, 100);
      const dir = await writeQueue(records);
      const [segment] = segmentPaths(dir);
      assert.ok(segment);
      const fullSize = statSync(segment).size;
      truncateSync(segment, fullSize - 10);

      const queue = await open(dir);
      assert.deepEqual(await peekAll(queue), records.slice(0, 99));
      assert.equal(queue.stats().depth, 99);
      assert.equal(queue.stats().droppedCorrupt, 1);
      assert.match(problems.join("\n"), /torn tail from byte \d+ cut; 1 record\(s\) lost/);
      assert.equal(statSync(segment).size, frameOffset(records, 99), "the file ends at the last good record");

      queue.append(["after.the.cut 1 1700000000"]);
      await queue.close();
      const reopened = await open(dir);
      assert.deepEqual(await peekAll(reopened), [...records.slice(0, 99), "after.the.cut 1 1700000000"]);
      assert.equal(reopened.stats().droppedCorrupt, 0, "the cut was made once, not found again");
    });

    test("garbage after the last record is cut off and every record is delivered", async () => {
      const records = sampleLines(0, 100);
      const dir = await writeQueue(records);
      const [segment] = segmentPaths(dir);
      assert.ok(segment);
      const goodSize = statSync(segment).size;
      appendFileSync(segment, Buffer.from("\x8f\x03garbage that is not a frame \xff\xfe\x00\x01", "latin1"));

      const queue = await open(dir);
      assert.deepEqual(await peekAll(queue), records);
      assert.equal(queue.stats().droppedCorrupt, 1);
      assert.equal(statSync(segment).size, goodSize);
    });

    test("a zero-filled tail (blocks allocated, data never written) is cut off", async () => {
      const records = sampleLines(0, 50);
      const dir = await writeQueue(records);
      const [segment] = segmentPaths(dir);
      assert.ok(segment);
      const goodSize = statSync(segment).size;
      appendFileSync(segment, Buffer.alloc(4096));

      const queue = await open(dir);
      assert.deepEqual(await peekAll(queue), records);
      assert.equal(statSync(segment).size, goodSize);
    });

    test("a segment file created but never written is removed", async () => {
      const records = sampleLines(0, 10);
      const dir = await writeQueue(records);
      const empty = join(dir, "0000000000000011.seg");
      appendFileSync(empty, Buffer.from("HW"));
      const queue = await open(dir);
      assert.deepEqual(await peekAll(queue), records);
      assert.equal(segmentPaths(dir).length, 1);
      queue.append(["next 1 1700000000"]);
      await queue.flush();
      assert.deepEqual(await peekAll(queue), [...records, "next 1 1700000000"]);
    });

    test("copies a failed write left in an older segment are cut, without loss or duplicates", async () => {
      const records = sampleLines(0, 60);
      const dir = await writeQueue(records, { segmentBytes: 2048 });
      const [first, second] = segmentPaths(dir);
      assert.ok(first && second);
      // The first segment gets the frames the second one starts with, and half of one more: what
      // a write that failed half way, and was then retried into a new segment, leaves behind.
      const secondFirstSeq = Number(second.slice(-20, -4));
      const copies = Buffer.alloc(4096);
      let length = 0;
      for (let seq = secondFirstSeq; seq < secondFirstSeq + 3; seq++) {
        const record = records[seq - 1] ?? "";
        length = encodeFrame(copies, length, record, Buffer.byteLength(record), seq);
      }
      appendFileSync(first, copies.subarray(0, length - 30));

      const queue = await open(dir, { segmentBytes: 2048 });
      assert.deepEqual(await peekAll(queue), records);
      assert.equal(queue.stats().depth, 60);
      assert.equal(queue.stats().droppedCorrupt, 0, "nothing was lost: the copies are in the next segment");
    });
  });

  describe("damage inside a segment", () => {
    test("a flipped payload byte loses that one record; those before and after it are delivered", async () => {
      const records = sampleLines(0, 100);
      const dir = await writeQueue(records);
      const [segment] = segmentPaths(dir);
      assert.ok(segment);
      flipByte(segment, frameOffset(records, 50) + 20);

      const queue = await open(dir);
      const expected = [...records.slice(0, 50), ...records.slice(51)];
      assert.deepEqual(await peekAll(queue), expected);
      assert.equal(queue.stats().depth, 99);
      assert.equal(queue.stats().droppedCorrupt, 1);
      assert.match(
        problems.join("\n"),
        /0000000000000001\.seg: bytes \d+-\d+ damaged \(bad CRC or framing\), skipped; 1 record\(s\) lost/,
      );
      // Found again on every open (the file is never rewritten), but the count is exact each time.
      await queue.ack(await queue.peek(30));
      await queue.close();
      const reopened = await open(dir);
      assert.deepEqual(await peekAll(reopened), expected.slice(30));
    });

    test("a flipped length byte: the reader resyncs on the next record", async () => {
      const records = sampleLines(0, 100);
      const dir = await writeQueue(records);
      const [segment] = segmentPaths(dir);
      assert.ok(segment);
      flipByte(segment, frameOffset(records, 70));

      const queue = await open(dir);
      assert.deepEqual(await peekAll(queue), [...records.slice(0, 70), ...records.slice(71)]);
      assert.equal(queue.stats().droppedCorrupt, 1);
    });

    test("a zeroed stretch over several records loses exactly those records", async () => {
      const records = sampleLines(0, 100);
      const dir = await writeQueue(records);
      const [segment] = segmentPaths(dir);
      assert.ok(segment);
      const fd = openSync(segment, "r+");
      const start = frameOffset(records, 20) + 3;
      writeSync(fd, Buffer.alloc(frameOffset(records, 24) - start + 5), 0, undefined, start);
      closeSync(fd);

      const queue = await open(dir);
      assert.deepEqual(await peekAll(queue), [...records.slice(0, 20), ...records.slice(25)]);
      assert.equal(queue.stats().droppedCorrupt, 5);
    });

    test("damage that appears while the queue is open is found by peek, counted once, and skipped", async () => {
      const dir = join(root, "live");
      const queue = await open(dir, { segmentBytes: 2048 });
      const records = sampleLines(0, 80);
      queue.append(records);
      await queue.flush();
      const [, second] = segmentPaths(dir);
      assert.ok(second);
      const secondFirstSeq = Number(second.slice(-20, -4));
      flipByte(
        second,
        SEGMENT_HEADER_BYTES +
          frameBytes(Buffer.byteLength(records[secondFirstSeq - 1] ?? ""), secondFirstSeq) +
          30,
      );

      const expected = records.filter((_, index) => index !== secondFirstSeq);
      assert.deepEqual(await peekAll(queue), expected);
      assert.deepEqual(await peekAll(queue), expected);
      assert.equal(queue.stats().droppedCorrupt, 1);
      assert.equal(queue.stats().depth, 79);
      await queue.ack(await queue.peek(1000));
      assert.equal(queue.stats().depth, 0);
      assert.equal(queue.stats().bytes, 0);
    });
  });

  describe("crashes", () => {
    test("a copy of the directory taken mid-way holds every flushed, unacked record and no acked one", async () => {
      const dir = join(root, "live");
      const queue = await open(dir, { segmentBytes: 4096 });
      queue.append(sampleLines(0, 200));
      await queue.flush();
      await queue.ack(await queue.peek(60));
      queue.append(sampleLines(200, 10));
      // 200..209 are not flushed: a crash now loses them, and nothing else.
      const snapshot = join(root, "snapshot");
      cpSync(dir, snapshot, { recursive: true });

      const recovered = await open(snapshot, { segmentBytes: 4096 });
      assert.deepEqual(await peekAll(recovered), sampleLines(60, 140));
      assert.equal(recovered.stats().droppedCorrupt, 0);
      recovered.append(["new 1 1700000000"]);
      const batch = await recovered.peek(1000);
      assert.deepEqual(batch.records, [...sampleLines(60, 140), "new 1 1700000000"]);
    });

    test("a torn ack-log entry falls back to the previous cursor: records come back, none are lost", async () => {
      const dir = join(root, "acks");
      const queue = await open(dir);
      queue.append(sampleLines(0, 30));
      await queue.flush();
      await queue.ack(await queue.peek(10));
      await queue.ack(await queue.peek(10));
      await queue.close();
      const ackLog = join(dir, "acked.log");
      truncateSync(ackLog, statSync(ackLog).size - 5);

      const reopened = await open(dir);
      assert.deepEqual(await peekAll(reopened), sampleLines(10, 20));
      await reopened.ack(await reopened.peek(15));
      await reopened.close();
      const third = await open(dir);
      assert.deepEqual(await peekAll(third), sampleLines(25, 5));
      assert.equal(readFileSync(ackLog).length % 12, 0, "the damaged log was rewritten, not appended to");
    });

    test("kill -9 at random moments: every record reported flushed survives, in order, once, and acked ones stay gone", async (t) => {
      const dir = join(root, "killed");
      const child = fileURLToPath(new URL("./crash-writer.ts", import.meta.url));
      let seed = Date.now() % 100_000;
      const random = (): number => {
        seed = (seed * 16807) % 2147483647;
        return seed / 2147483647;
      };
      const flushedUpTo = new Map<number, number>();
      let lastAcked: [number, number] | undefined;
      const rounds = 6;
      let tornTails = 0;
      for (let round = 0; round < rounds; round++) {
        const killAfter = 1 + Math.floor(random() * 30);
        const reports = await runUntilKilled(child, dir, round, killAfter);
        for (const report of reports) {
          const flushed = /^F (\d+) (\d+)$/.exec(report);
          const acked = /^A r(\d+)-(\d+)$/.exec(report);
          if (flushed) flushedUpTo.set(Number(flushed[1]), Number(flushed[2]));
          else if (acked) lastAcked = [Number(acked[1]), Number(acked[2])];
          else assert.fail(`unexpected report ${report}`);
        }
        assert.ok(flushedUpTo.has(round), `round ${round} reported no flush`);

        const problemsBefore = problems.length;
        const queue = await open(dir);
        const { droppedCorrupt } = queue.stats();
        // A kill can tear at most the write in progress: one torn tail, only ever at the end.
        assert.ok(
          droppedCorrupt <= 1,
          `${droppedCorrupt} lost to damage: ${problems.slice(problemsBefore).join("; ")}`,
        );
        tornTails += droppedCorrupt;
        const present = (await peekAll(queue)).map((record) => {
          const match = /^r(\d+)-(\d+) x{60}$/.exec(record);
          assert.ok(match, `garbage record ${JSON.stringify(record.slice(0, 80))}`);
          return [Number(match[1]), Number(match[2])] as const;
        });
        await queue.close();
        toClose.splice(toClose.indexOf(queue), 1);
        const context = `seed-derived kill after ${killAfter} flushes in round ${round}`;
        assert.ok(present.length > 0, context);
        const [first] = present;
        assert.ok(first);
        if (lastAcked) {
          assert.ok(
            compareKeys(first, lastAcked) > 0,
            `acked record came back: ${first} <= ${lastAcked} (${context})`,
          );
        }
        for (let index = 1; index < present.length; index++) {
          const before = present[index - 1];
          const current = present[index];
          assert.ok(before && current);
          if (before[0] === current[0]) {
            assert.equal(
              current[1],
              before[1] + 1,
              `gap or duplicate after r${before[0]}-${before[1]} (${context})`,
            );
          } else {
            assert.ok(
              current[0] > before[0] && current[1] === 0,
              `out of order at r${current[0]}-${current[1]} (${context})`,
            );
          }
        }
        for (const [flushedRound, flushedIndex] of flushedUpTo) {
          if (compareKeys([flushedRound, flushedIndex], first) < 0) continue;
          const last = present.findLast(([presentRound]) => presentRound === flushedRound);
          assert.ok(
            last && last[1] >= flushedIndex,
            `r${flushedRound}-${flushedIndex} was flushed but is missing (${context})`,
          );
        }
        t.diagnostic(`round ${round}: killed after ${killAfter}+ flushes, ${present.length} records queued`);
      }
      t.diagnostic(`${tornTails} torn tail(s) found and cut over ${rounds} kills`);
    });
  });

  describe("the ack cursor's cadence", () => {
    test("acking records that never reached a segment writes nothing to disk", async () => {
      const fs = new ProbeFs();
      const timers = new ManualTimers();
      const queue = await open(join(root, "unwritten-acks"), { fs, timers });
      for (let round = 0; round < 20; round++) {
        queue.append(sampleLines(round * 10, 10));
        await queue.ack(await queue.peek(100));
      }
      assert.equal(fs.bytesWritten, 0);
      assert.equal(queue.stats().depth, 0);
      await queue.close();
      const reopened = await open(join(root, "unwritten-acks"));
      assert.deepEqual(await peekAll(reopened), []);
    });

    test("with ackPersistIntervalMs, acks reach the disk only when the timer fires: a crash before hands them out again", async () => {
      const dir = join(root, "timed");
      const fs = new ProbeFs();
      const timers = new ManualTimers();
      const queue = await open(dir, { fs, timers, ackPersistIntervalMs: 2000, segmentBytes: 4096 });
      queue.append(sampleLines(0, 100));
      await queue.flush();
      const afterFlush = fs.bytesWritten;
      await queue.ack(await queue.peek(30));
      await queue.ack(await queue.peek(30));
      assert.equal(fs.bytesWritten, afterFlush, "no cursor write per ack");
      assert.equal(timers.armed, 1, "one timed persist for both acks");
      assert.deepEqual(
        (await queue.peek(1)).records,
        [sampleLine(60)],
        "acked records are gone in this process",
      );

      const crashedEarly = join(root, "crashed-early");
      cpSync(dir, crashedEarly, { recursive: true });
      assert.deepEqual(
        await peekAll(await open(crashedEarly, { segmentBytes: 4096 })),
        sampleLines(0, 100),
        "before the persist, a crash resends the acked records (at least once)",
      );

      assert.equal(timers.fireAll(), 1);
      await queue.flush(); // queued behind the persist
      assert.equal(fs.bytesWritten, afterFlush + 12, "one 12-byte cursor entry for both acks");
      const crashedLate = join(root, "crashed-late");
      cpSync(dir, crashedLate, { recursive: true });
      assert.deepEqual(await peekAll(await open(crashedLate, { segmentBytes: 4096 })), sampleLines(60, 40));
    });

    test("with ackPersistIntervalMs, close() persists the cursor and acked segments are deleted only once it is on disk", async () => {
      const dir = join(root, "timed-close");
      const timers = new ManualTimers();
      const queue = await open(dir, { timers, ackPersistIntervalMs: 2000, segmentBytes: 2048 });
      queue.append(sampleLines(0, 100));
      await queue.flush();
      const segmentsBefore = segmentPaths(dir).length;
      assert.ok(segmentsBefore > 2);
      await queue.ack(await queue.peek(90));
      assert.equal(segmentPaths(dir).length, segmentsBefore, "segments stay until the cursor is durable");
      await queue.close();
      assert.ok(segmentPaths(dir).length < segmentsBefore, "close() persisted the cursor and deleted them");
      assert.deepEqual(await peekAll(await open(dir)), sampleLines(90, 10));
    });
  });

  describe("bounds", () => {
    test("over maxBytes, whole oldest segments go, counted exactly, with a partly acked head", async () => {
      const dir = join(root, "bounded");
      const maxBytes = 32 * 1024;
      const queue = await open(dir, { maxBytes });
      let appended = 0;
      let acked = 0;
      for (let round = 0; round < 100; round++) {
        queue.append(sampleLines(appended, 15));
        appended += 15;
        await queue.flush();
        if (round % 7 === 3) {
          const batch = await queue.peek(5);
          await queue.ack(batch);
          acked += batch.records.length;
        }
        assert.ok(queue.stats().bytes <= maxBytes);
      }
      const stats = queue.stats();
      assert.ok(stats.droppedOverflow > 0);
      assert.equal(acked + stats.droppedOverflow + stats.depth, appended);
      assert.deepEqual(await peekAll(queue), sampleLines(appended - stats.depth, stats.depth));
      assert.ok(segmentPaths(dir).length <= maxBytes / (8 * 1024) + 1, "dropped segments were deleted");
      await queue.close();
      const reopened = await open(dir, { maxBytes });
      assert.deepEqual(await peekAll(reopened), sampleLines(appended - stats.depth, stats.depth));
    });

    test("segments dropped while a peek is reading them are not handed out, and acking that batch stays exact", async () => {
      const fs = new ProbeFs();
      const dir = join(root, "racing");
      const maxBytes = 16 * 1024;
      const queue = await open(dir, { fs, maxBytes });
      let appended = 0;
      while (queue.stats().segments < 3) {
        queue.append(sampleLines(appended, 10));
        appended += 10;
        await queue.flush();
      }
      let release = (): void => undefined;
      fs.readGate = new Promise((resolve) => {
        release = resolve;
      });
      const peeking = queue.peek(30);
      while (fs.readsWaiting === 0) await new Promise((resolve) => setImmediate(resolve));
      // The head segment is being read; these appends push it (and maybe more) out.
      const droppedBefore = queue.stats().droppedOverflow;
      for (let round = 0; round < 5 && queue.stats().droppedOverflow === droppedBefore; round++) {
        queue.append(sampleLines(appended, 40));
        appended += 40;
      }
      assert.ok(queue.stats().droppedOverflow > droppedBefore, "the appends dropped a segment");
      fs.readGate = undefined;
      release();
      const batch = await peeking;
      const { depth, droppedOverflow } = queue.stats();
      const firstKept = appended - depth;
      assert.deepEqual(batch.records, sampleLines(firstKept, 30));
      await queue.ack(batch);
      assert.equal(queue.stats().depth, depth - 30);
      assert.equal(queue.stats().droppedOverflow, droppedOverflow);
      assert.deepEqual(await peekAll(queue), sampleLines(firstKept + 30, depth - 30));
    });

    describe("records pushed out by a bound while a peeked batch is being delivered", () => {
      const unwrittenBound = { maxBytes: 1024 * 1024, maxUnwrittenBytes: 64 * 1024 };
      /** A queue whose disk refuses writes, holding `count` records in memory, `peeked` of them handed out. */
      const queueWithBatchInFlight = async (
        name: string,
        count: number,
        peeked: number,
      ): Promise<{ queue: DiskQueue; batch: Awaited<ReturnType<DiskQueue["peek"]>> }> => {
        const fs = new ProbeFs();
        const queue = await open(join(root, name), { fs, timers: new ManualTimers(), ...unwrittenBound });
        fs.setFault({ code: "EROFS", operations: ["write", "create", "sync"] });
        queue.append(sampleLines(0, count));
        await queue.flush().catch(() => undefined);
        return { queue, batch: await queue.peek(peeked) };
      };
      const pushOutEverything = (queue: DiskQueue): void => {
        queue.append(sampleLines(100_000, 1000));
      };

      test("the batch's ack arrives: they were delivered, and only the others count as dropped", async () => {
        const { queue, batch } = await queueWithBatchInFlight("in-flight-acked", 300, 200);
        pushOutEverything(queue);
        const depth = queue.stats().depth;
        assert.ok(depth < 1000, "every one of the first 300 records was pushed out");
        await queue.ack(batch);
        const stats = queue.stats();
        assert.equal(stats.depth, depth, "the acked records had already left");
        assert.equal(stats.droppedUnwritten, 1300 - depth - 200, "dropped: all but the delivered batch");
        assert.equal((await queue.peek(1)).records[0], sampleLines(101_000 - depth, 1)[0]);
        assert.equal(
          queue.stats().droppedUnwritten,
          1300 - depth - 200,
          "a peek after the ack changes nothing",
        );
      });

      test("the batch is peeked again instead (it was not taken): they count as dropped then", async () => {
        const { queue } = await queueWithBatchInFlight("in-flight-retried", 300, 200);
        pushOutEverything(queue);
        const depth = queue.stats().depth;
        assert.ok(depth < 1000, "every one of the first 300 records was pushed out");
        assert.equal(
          queue.stats().droppedUnwritten,
          1300 - depth - 200,
          "the batch is not yet known to be lost",
        );
        const again = await queue.peek(200);
        assert.equal(queue.stats().droppedUnwritten, 1300 - depth, "the unacked batch is lost");
        await queue.ack(again);
        assert.equal(queue.stats().droppedUnwritten, 1300 - depth);
        assert.equal(queue.stats().depth, depth - 200);
      });

      test("a full queue dropping the segment a batch came from: the ack keeps the count exact", async () => {
        const dir = join(root, "in-flight-overflow");
        const maxBytes = 16 * 1024;
        const queue = await open(dir, { maxBytes });
        let appended = 0;
        while (queue.stats().segments < 3) {
          queue.append(sampleLines(appended, 10));
          appended += 10;
          await queue.flush();
        }
        const batch = await queue.peek(15);
        assert.deepEqual(batch.records, sampleLines(0, 15));
        // ~40 KiB more through a 16 KiB queue: the batch's segments are certainly dropped.
        for (let round = 0; round < 40; round++) {
          queue.append(sampleLines(appended, 10));
          appended += 10;
          await queue.flush();
        }
        const depth = queue.stats().depth;
        assert.ok(depth < appended - 15, "the batch's records were pushed out");
        assert.equal(queue.stats().droppedOverflow, appended - depth - 15, "the batch is not counted yet");
        await queue.ack(batch);
        const stats = queue.stats();
        assert.equal(15 + stats.droppedOverflow + stats.depth, appended);
        assert.deepEqual(await peekAll(queue), sampleLines(appended - stats.depth, stats.depth));
      });
    });

    test("a record over maxRecordBytes is refused whole; nothing of that append is queued", async () => {
      const queue = await open(join(root, "big"), { maxRecordBytes: 100 });
      assert.throws(() => queue.append(["ok", "y".repeat(101)]), RangeError);
      assert.equal(queue.stats().depth, 0);
    });
  });

  describe("a full or read-only disk", () => {
    test("ENOSPC: timer flushes do not throw, the error is reported, records wait in memory, bounded", async () => {
      const fs = new ProbeFs();
      const timers = new ManualTimers();
      const dir = join(root, "full");
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => {
        unhandled.push(reason);
      };
      process.on("unhandledRejection", onUnhandled);
      try {
        const queue = await open(dir, { fs, timers, maxUnwrittenBytes: 20 * 1024 });
        queue.append(sampleLines(0, 10));
        await queue.flush();

        fs.setFault({ code: "ENOSPC", operations: ["write", "create"], partialFirstWrite: true });
        queue.append(sampleLines(10, 10));
        assert.equal(timers.fireAll(), 1);
        // Disk operations run in order, so once this peek answers, the timer's flush has failed.
        assert.deepEqual(await peekAll(queue), sampleLines(0, 20), "unwritten records are still delivered");
        assert.match(
          problems.join("\n"),
          /writing 10 record\(s\) failed; kept in memory for the next try: ENOSPC/,
        );
        assert.match(queue.stats().lastError ?? "", /ENOSPC/);
        assert.equal(queue.stats().unflushed, 10);
        await assert.rejects(queue.flush(), /ENOSPC/);

        // Past maxUnwrittenBytes the oldest unwritten records go, counted.
        queue.append(sampleLines(20, 300));
        const stats = queue.stats();
        // 10..19 were handed out by the peek above: they count once it is known they were not taken.
        assert.equal(stats.droppedUnwritten, 310 - stats.unflushed - 10);
        const keptBytes = sampleLines(320 - stats.unflushed, stats.unflushed).reduce(
          (sum, line, index) => sum + frameBytes(Buffer.byteLength(line), 320 - stats.unflushed + index + 1),
          0,
        );
        assert.ok(keptBytes <= 20 * 1024, `${keptBytes} bytes kept`);
        assert.ok(
          keptBytes + frameBytes(Buffer.byteLength(sampleLine(0)), 1) > 20 * 1024,
          "no more was dropped than needed",
        );
        assert.equal(stats.depth, 10 + stats.unflushed);
        assert.match(problems.join("\n"), /record\(s\) dropped: more than 20480 bytes waiting to be written/);

        // An ack that cannot be persisted still resolves; it is reported.
        fs.setFault({ code: "ENOSPC", operations: ["write", "create", "sync", "rename"] });
        await queue.ack(await queue.peek(5));
        assert.match(problems.join("\n"), /could not persist the ack cursor/);

        fs.setFault(undefined);
        timers.fireAll();
        await queue.flush();
        assert.equal(queue.stats().lastError, undefined);
        const kept = sampleLines(320 - stats.unflushed, stats.unflushed);
        assert.deepEqual(await peekAll(queue), [...sampleLines(5, 5), ...kept]);
        await queue.close();
        const reopened = await open(dir, { fs });
        assert.deepEqual(await peekAll(reopened), [...sampleLines(5, 5), ...kept]);
        assert.equal(
          reopened.stats().droppedCorrupt,
          0,
          "the half-written chunk was cut before anything followed it",
        );
      } finally {
        process.off("unhandledRejection", onUnhandled);
      }
      assert.deepEqual(unhandled, []);
    });

    test("a read-only directory: segment files cannot be created, records wait, then go out once it is writable", async () => {
      const fs = new ProbeFs();
      const timers = new ManualTimers();
      const dir = join(root, "readonly");
      const queue = await open(dir, { fs, timers });
      fs.setFault({ code: "EROFS", operations: ["create", "write", "rename", "unlink", "sync"] });
      queue.append(sampleLines(0, 5));
      timers.fireAll();
      await assert.rejects(queue.flush(), /EROFS/);
      assert.match(queue.stats().lastError ?? "", /EROFS/);
      assert.equal(queue.stats().depth, 5);
      const batch = await queue.peek(2);
      assert.deepEqual(batch.records, sampleLines(0, 2));
      await queue.ack(batch);
      fs.setFault(undefined);
      await queue.close();
      const reopened = await open(dir);
      assert.deepEqual(await peekAll(reopened), sampleLines(2, 3));
    });
  });

  describe("cost", () => {
    test("write amplification, cursor writes included, is at most 1.2 for ~90-byte lines", async (t) => {
      const fs = new ProbeFs();
      const dir = join(root, "amplification");
      let queue = await open(dir, { fs, segmentBytes: 256 * 1024 });
      let payloadBytes = 0;
      let appended = 0;
      for (let flushRound = 0; flushRound < 100; flushRound++) {
        for (let batch = 0; batch < 10; batch++) {
          const lines = sampleLines(appended, 100);
          appended += 100;
          for (const line of lines) payloadBytes += Buffer.byteLength(line) + 1;
          queue.append(lines);
        }
        await queue.flush();
        await queue.ack(await queue.peek(500));
        if (flushRound === 50) {
          await queue.close();
          queue = await open(dir, { fs, segmentBytes: 256 * 1024 });
        }
      }
      await queue.close();
      const amplification = fs.bytesWritten / payloadBytes;
      t.diagnostic(
        `${appended} lines, ${payloadBytes} payload+newline bytes, ${fs.bytesWritten} written: ` +
          `${amplification.toFixed(3)}x, ${(fs.bytesWritten / appended).toFixed(1)} bytes/line`,
      );
      assert.ok(amplification <= 1.2, `write amplification ${amplification}`);
      assert.ok(amplification >= 1, "every payload byte is written");
    });

    test("memory stays flat with a backlog of 1,000,000 lines, and replaying it", async (t) => {
      const dir = join(root, "million");
      const options = { maxBytes: 256 * 1024 * 1024, fsync: false };
      const queue = await open(dir, options);
      const chunk = 10_000;
      let appended = 0;
      const appendChunk = async (): Promise<void> => {
        queue.append(sampleLines(appended, chunk));
        appended += chunk;
        await queue.flush();
      };
      while (appended < 100_000) await appendChunk();
      collectGarbage();
      const at100k = process.memoryUsage();
      while (appended < 1_000_000) await appendChunk();
      collectGarbage();
      const at1m = process.memoryUsage();
      assert.equal(queue.stats().depth, 1_000_000);
      await queue.close();

      const reopened = await open(dir, options);
      assert.equal(reopened.stats().depth, 1_000_000);
      collectGarbage();
      const afterOpen = process.memoryUsage();
      let replayed = 0;
      for (;;) {
        const batch = await reopened.peek(5000, 1024 * 1024);
        if (batch.records.length === 0) break;
        if (replayed === 0) assert.equal(batch.records[0], sampleLine(0));
        replayed += batch.records.length;
        await reopened.ack(batch);
      }
      assert.equal(replayed, 1_000_000);
      collectGarbage();
      const afterReplay = process.memoryUsage();

      const MiB = 1024 * 1024;
      const growth = (at1m.heapUsed - at100k.heapUsed) / MiB;
      t.diagnostic(
        `heapUsed MiB: 100k ${(at100k.heapUsed / MiB).toFixed(1)}, 1M ${(at1m.heapUsed / MiB).toFixed(1)}, ` +
          `reopened ${(afterOpen.heapUsed / MiB).toFixed(1)}, replayed ${(afterReplay.heapUsed / MiB).toFixed(1)}; ` +
          `rss MiB 100k ${(at100k.rss / MiB).toFixed(0)}, 1M ${(at1m.rss / MiB).toFixed(0)}`,
      );
      assert.ok(growth < 30, `heap grew ${growth.toFixed(1)} MiB from 100k to 1M lines`);
      assert.ok(
        (afterOpen.heapUsed - at100k.heapUsed) / MiB < 30,
        "reopening scans without loading the backlog",
      );
      assert.ok((afterReplay.heapUsed - at100k.heapUsed) / MiB < 30, "replaying does not hold the backlog");
    });

    test("a backlog of many segments is read, on open and by every peek, into one reused buffer", async () => {
      const dir = join(root, "one-read-buffer");
      const options = { segmentBytes: 64 * 1024, fsync: false };
      const writer = await open(dir, options);
      writer.append(sampleLines(0, 30_000));
      await writer.flush();
      await writer.close();
      assert.ok(segmentPaths(dir).length >= 40, `${segmentPaths(dir).length} segments`);

      // A buffer per segment or per peek is garbage that only a full GC frees, which comes late
      // when little else is allocated on the heap (as when a queue opens): up to 64 MiB of it.
      const fs = new ProbeFs();
      const queue = await open(dir, { ...options, fs });
      let replayed = 0;
      for (;;) {
        const batch = await queue.peek(500, 256 * 1024);
        if (batch.records.length === 0) break;
        replayed += batch.records.length;
        await queue.ack(batch);
      }
      assert.equal(replayed, 30_000);
      const sizes = [...fs.readMemory.keys()].map((memory) => memory.byteLength);
      const largest = Math.max(...sizes);
      const total = sizes.reduce((sum, size) => sum + size, 0);
      // It may grow (doubling) to the largest window asked for, and is reused from then on.
      assert.ok(total <= 2 * largest, `read into ${sizes.join(", ")} bytes`);
      assert.ok(largest <= 1024 * 1024, `${largest} bytes`);
      assert.ok(Math.max(...fs.readMemory.values()) >= 60 * 1024, "whole segments at a time");

      // The backlog is through, and the buffer with it: the next one is read into new memory.
      queue.append(sampleLines(30_000, 10));
      await queue.flush();
      assert.deepEqual((await queue.peek(10)).records, sampleLines(30_000, 10));
      assert.equal(fs.readMemory.size, sizes.length + 1);
    });
  });

  test("the portable CRC-32 matches zlib's", () => {
    for (const size of [0, 1, 7, 64, 1000]) {
      const data = Buffer.from(Array.from({ length: size }, (_, index) => (index * 31 + size) & 0xff));
      assert.equal(crc32Portable(data), crc32(data));
    }
    assert.equal(crc32Portable(Buffer.from("123456789")), 0xcbf43926);
  });
});

function compareKeys(a: readonly [number, number], b: readonly [number, number]): number {
  return a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1];
}

/** Runs crash-writer.ts until it has reported `killAfter` flushes, SIGKILLs it, and returns every line it printed. */
async function runUntilKilled(
  script: string,
  dir: string,
  round: number,
  killAfter: number,
): Promise<string[]> {
  const child = spawn(process.execPath, ["--import", "tsx", script, dir, String(round)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on("exit", (_code, signal) => resolve(signal)),
  );
  const reports: string[] = [];
  let flushes = 0;
  for await (const line of createInterface({ input: child.stdout })) {
    reports.push(line);
    if (line.startsWith("F ") && ++flushes === killAfter) child.kill("SIGKILL");
  }
  const signal = await exited;
  assert.equal(signal, "SIGKILL", `crash-writer ended on its own: ${stderr}`);
  return reports;
}
