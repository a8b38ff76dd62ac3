// The behaviour every DurableQueue must have (queue/durable-queue.ts). Each implementation's test
// file calls runDurableQueueContract with a way to open its queue at a location.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import type { DurableQueue } from "../../../queue/durable-queue.ts";

export interface ContractOptions {
  /** The queue's bound, when a test needs a small one. */
  readonly maxBytes?: number;
}

/** Opens the queue stored at `location` (a fresh directory per test); opening it again must see the same queue. */
export type OpenQueue = (location: string, options: ContractOptions) => Promise<DurableQueue>;

/** A Carbon line of typical length (about 90 bytes) that says where it came from. */
export function sampleLine(index: number): string {
  return `homeward.grandma-pi.sensor${index % 7}.temp ${(index % 1000) / 10} ${1_700_000_000 + index} grandma-pi c2lnbmF0dXJlLW9mLWxpbmUtbnVtYmVyLQ==`;
}

export function sampleLines(from: number, count: number): string[] {
  return Array.from({ length: count }, (_, offset) => sampleLine(from + offset));
}

/** Everything in the queue, oldest first, without removing it. */
export async function peekAll(queue: DurableQueue): Promise<string[]> {
  return (await queue.peek(Number.MAX_SAFE_INTEGER)).records.slice();
}

export function runDurableQueueContract(name: string, openQueue: OpenQueue): void {
  describe(`DurableQueue contract: ${name}`, () => {
    let root: string;
    const open: DurableQueue[] = [];
    let counter = 0;

    const location = (): string => join(root, `queue-${counter++}`);
    const openAt = async (where: string, options: ContractOptions = {}): Promise<DurableQueue> => {
      const queue = await openQueue(where, options);
      open.push(queue);
      return queue;
    };

    beforeEach(() => {
      root = mkdtempSync(join(tmpdir(), "homeward-queue-contract-"));
    });

    afterEach(async () => {
      for (const queue of open.splice(0)) await queue.close();
      rmSync(root, { recursive: true, force: true });
    });

    test("an empty queue gives an empty batch, and acking it changes nothing", async () => {
      const queue = await openAt(location());
      const batch = await queue.peek(10);
      assert.deepEqual(batch.records, []);
      await queue.ack(batch);
      queue.append(["a.b 1 1700000000"]);
      await queue.ack(batch);
      assert.deepEqual(await peekAll(queue), ["a.b 1 1700000000"]);
      assert.equal(queue.stats().depth, 1);
    });

    test("records come out in the order they went in, across appends and flushes", async () => {
      const queue = await openAt(location());
      queue.append(sampleLines(0, 5));
      await queue.flush();
      queue.append(sampleLines(5, 3));
      queue.append([]);
      queue.append(sampleLines(8, 4));
      assert.deepEqual(await peekAll(queue), sampleLines(0, 12));
      await queue.flush();
      assert.deepEqual(await peekAll(queue), sampleLines(0, 12));
    });

    test("peek does not remove; ack removes exactly up to the batch end", async () => {
      const queue = await openAt(location());
      queue.append(sampleLines(0, 10));
      await queue.flush();
      const first = await queue.peek(4);
      assert.deepEqual(first.records, sampleLines(0, 4));
      assert.deepEqual((await queue.peek(4)).records, sampleLines(0, 4));
      assert.equal(queue.stats().depth, 10);
      await queue.ack(first);
      assert.equal(queue.stats().depth, 6);
      const second = await queue.peek(100);
      assert.deepEqual(second.records, sampleLines(4, 6));
      await queue.ack(second);
      assert.deepEqual((await queue.peek(100)).records, []);
      assert.equal(queue.stats().depth, 0);
    });

    test("unflushed records can be peeked and acked too", async () => {
      const queue = await openAt(location());
      queue.append(sampleLines(0, 3));
      await queue.flush();
      queue.append(sampleLines(3, 3));
      const batch = await queue.peek(5);
      assert.deepEqual(batch.records, sampleLines(0, 5));
      await queue.ack(batch);
      await queue.flush();
      assert.deepEqual(await peekAll(queue), [sampleLine(5)]);
    });

    test("peek honours maxRecords and maxBytes (payload plus newline) and always returns one record", async () => {
      const queue = await openAt(location());
      queue.append(["aaaa", "bbbb", "cccc", "dddd"]);
      await queue.flush();
      assert.deepEqual((await queue.peek(2)).records, ["aaaa", "bbbb"]);
      assert.deepEqual((await queue.peek(10, 10)).records, ["aaaa", "bbbb"]);
      assert.deepEqual((await queue.peek(10, 14)).records, ["aaaa", "bbbb"]);
      assert.deepEqual((await queue.peek(10, 15)).records, ["aaaa", "bbbb", "cccc"]);
      assert.deepEqual((await queue.peek(10, 1)).records, ["aaaa"]);
      assert.deepEqual((await queue.peek(0)).records, []);
    });

    test("ack is idempotent: the same batch twice, or an older batch after a newer one, is a no-op", async () => {
      const queue = await openAt(location());
      queue.append(sampleLines(0, 10));
      await queue.flush();
      const older = await queue.peek(3);
      const newer = await queue.peek(6);
      await queue.ack(newer);
      await queue.ack(newer);
      await queue.ack(older);
      assert.equal(queue.stats().depth, 4);
      assert.deepEqual(await peekAll(queue), sampleLines(6, 4));
      const overlapping = await queue.peek(2);
      await queue.ack(overlapping);
      await queue.ack(older);
      assert.deepEqual(await peekAll(queue), sampleLines(8, 2));
    });

    test("an older, shorter batch acked first and a longer one after remove each record once", async () => {
      const queue = await openAt(location());
      queue.append(sampleLines(0, 10));
      await queue.flush();
      const shorter = await queue.peek(3);
      const longer = await queue.peek(7);
      await queue.ack(shorter);
      await queue.ack(longer);
      assert.equal(queue.stats().depth, 3);
      assert.deepEqual(await peekAll(queue), sampleLines(7, 3));
    });

    test("reopening keeps the unacked records, in order, and not the acked ones", async () => {
      const where = location();
      const queue = await openAt(where);
      queue.append(sampleLines(0, 20));
      await queue.flush();
      await queue.ack(await queue.peek(7));
      queue.append(sampleLines(20, 5));
      await queue.close();
      open.splice(open.indexOf(queue), 1);

      const reopened = await openAt(where);
      assert.equal(reopened.stats().depth, 18);
      assert.deepEqual(await peekAll(reopened), sampleLines(7, 18));
      reopened.append(sampleLines(25, 2));
      await reopened.ack(await reopened.peek(18));
      assert.deepEqual(await peekAll(reopened), sampleLines(25, 2));
      await reopened.close();
      open.splice(open.indexOf(reopened), 1);

      const third = await openAt(where);
      assert.deepEqual(await peekAll(third), sampleLines(25, 2));
    });

    test("a batch from before a reopen is refused, and removes nothing", async () => {
      const where = location();
      const queue = await openAt(where);
      queue.append(sampleLines(0, 5));
      const stale = await queue.peek(3);
      await queue.close();
      open.splice(open.indexOf(queue), 1);
      const reopened = await openAt(where);
      await assert.rejects(reopened.ack(stale), TypeError);
      assert.deepEqual(await peekAll(reopened), sampleLines(0, 5));
    });

    test("when full, the oldest records go first and every dropped record is counted", async () => {
      const maxBytes = 64 * 1024;
      const queue = await openAt(location(), { maxBytes });
      let appended = 0;
      for (let round = 0; round < 150; round++) {
        queue.append(sampleLines(appended, 20));
        appended += 20;
        await queue.flush();
        assert.ok(queue.stats().bytes <= maxBytes, `bytes ${queue.stats().bytes} over ${maxBytes}`);
      }
      const stats = queue.stats();
      assert.ok(stats.droppedOverflow > 0, "nothing was dropped");
      assert.ok(stats.depth > 0);
      assert.equal(stats.droppedOverflow + stats.depth, appended);
      const kept = await peekAll(queue);
      assert.deepEqual(kept, sampleLines(appended - stats.depth, stats.depth));
      await queue.ack(await queue.peek(10));
      assert.equal(queue.stats().depth, stats.depth - 10);
      assert.equal(queue.stats().droppedOverflow, stats.droppedOverflow);
    });

    test("stats follow appends and acks: depth exactly, bytes at least the payload and zero when empty", async () => {
      const queue = await openAt(location());
      const empty = queue.stats();
      assert.deepEqual([empty.depth, empty.bytes, empty.droppedOverflow, empty.droppedCorrupt], [0, 0, 0, 0]);
      const records = sampleLines(0, 50);
      const payloadBytes = records.reduce((sum, record) => sum + Buffer.byteLength(record), 0);
      queue.append(records);
      assert.equal(queue.stats().depth, 50);
      assert.ok(queue.stats().bytes >= payloadBytes);
      await queue.flush();
      const flushed = queue.stats();
      assert.equal(flushed.depth, 50);
      assert.ok(flushed.bytes >= payloadBytes);
      await queue.ack(await queue.peek(20));
      const acked = queue.stats();
      assert.equal(acked.depth, 30);
      const remainingPayload = records.slice(20).reduce((sum, record) => sum + Buffer.byteLength(record), 0);
      assert.ok(acked.bytes < flushed.bytes && acked.bytes >= remainingPayload);
      await queue.ack(await queue.peek(100));
      const drained = queue.stats();
      assert.deepEqual(
        [drained.depth, drained.bytes, drained.droppedOverflow, drained.droppedCorrupt],
        [0, 0, 0, 0],
      );
    });

    test("records of any UTF-8 text and the empty record survive a reopen unchanged", async () => {
      const where = location();
      const records = [
        "",
        "température 21.5 1700000000",
        "emoji 🌡️ 1 2",
        " spaces  inside ",
        "x".repeat(900),
      ];
      const queue = await openAt(where);
      queue.append(records);
      await queue.close();
      open.splice(open.indexOf(queue), 1);
      const reopened = await openAt(where);
      assert.deepEqual(await peekAll(reopened), records);
    });
  });
}
