import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryBuffer } from "../../../../agent/run/memory-buffer.ts";

const lines = (from: number, count: number): string[] =>
  Array.from(
    { length: count },
    (_, index) => `homeward.pi.exec.seq ${String(from + index).padStart(4, "0")} 1700000000 pi c2ln`,
  );
const lineBytes = Buffer.byteLength(lines(0, 1)[0] ?? "") + 1;

test("a MemoryBuffer drops the oldest past its bound, and counts lines pushed out of a batch in flight only if it is not acked", async () => {
  const buffer = new MemoryBuffer(100 * lineBytes, "EROFS");
  buffer.append(lines(0, 100));
  const batch = await buffer.peek(30);
  buffer.append(lines(100, 50));
  assert.equal(buffer.stats().depth, 100);
  assert.equal(buffer.stats().droppedUnwritten, 20, "the 30 in flight are not counted yet");
  await buffer.ack(batch);
  assert.equal(buffer.stats().droppedUnwritten, 20, "they were delivered");
  assert.deepEqual((await buffer.peek(1)).records, lines(50, 1));

  const retried = await buffer.peek(10);
  assert.deepEqual(retried.records, lines(50, 10));
  buffer.append(lines(150, 10));
  assert.equal(buffer.stats().droppedUnwritten, 20);
  const again = await buffer.peek(10);
  assert.equal(buffer.stats().droppedUnwritten, 30, "the batch was not acked before the next peek: lost");
  assert.deepEqual(again.records, lines(60, 10));
  assert.equal(buffer.stats().lastError, "EROFS");
});
