// Random sequences of append / flush / peek / ack / reopen / crash against DiskQueue and against
// a plain array: both must hand out the same records in the same order.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import type { QueueBatch } from "../../../queue/durable-queue.ts";
import { DiskQueue } from "../../../queue/disk-queue.ts";
import { ManualTimers } from "./queue-test-helpers.ts";

type Operation =
  | { readonly kind: "append"; readonly records: readonly string[] }
  | { readonly kind: "flush" }
  | { readonly kind: "peek"; readonly maxRecords: number; readonly maxBytes: number | undefined }
  /** Acks one of this queue's earlier batches, counted back from the latest. */
  | { readonly kind: "ack"; readonly back: number }
  | { readonly kind: "reopen" }
  /** The process dies: what is on disk now is what the next process finds. */
  | { readonly kind: "crash" };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .array(fc.string({ unit: "grapheme", maxLength: 24 }), { maxLength: 12 })
      .map((records) => ({ kind: "append" as const, records })),
  },
  { weight: 2, arbitrary: fc.constant({ kind: "flush" as const }) },
  {
    weight: 3,
    arbitrary: fc
      .record({
        maxRecords: fc.integer({ min: 0, max: 15 }),
        maxBytes: fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
      })
      .map(({ maxRecords, maxBytes }) => ({ kind: "peek" as const, maxRecords, maxBytes })),
  },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 3 }).map((back) => ({ kind: "ack" as const, back })) },
  { weight: 1, arbitrary: fc.constant({ kind: "reopen" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "crash" as const }) },
);

interface ModelRecord {
  readonly id: number;
  readonly value: string;
  durable: boolean;
}

/** What peek must return: the oldest records, up to the count and the bytes (payload plus newline), at least one. */
function modelPeek(
  model: readonly ModelRecord[],
  maxRecords: number,
  maxBytes: number | undefined,
): ModelRecord[] {
  const taken: ModelRecord[] = [];
  let bytes = 0;
  for (const record of model) {
    const size = Buffer.byteLength(record.value) + 1;
    if (taken.length >= maxRecords || (taken.length > 0 && maxBytes !== undefined && bytes + size > maxBytes))
      break;
    taken.push(record);
    bytes += size;
  }
  return taken;
}

test("DiskQueue hands out the same records in the same order as an in-memory model", async () => {
  const root = mkdtempSync(join(tmpdir(), "homeward-queue-property-"));
  let runs = 0;
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 40 }), async (operations) => {
        let dir = join(root, `run-${runs++}`);
        // Small segments so that rolling over and deleting segments happen; timers that never fire
        // so that a record is on disk exactly when a flush (or close) has written it.
        const open = (): Promise<DiskQueue> =>
          DiskQueue.open({ dir, segmentBytes: 256, fsync: false, timers: new ManualTimers() });
        let queue = await open();
        const abandoned: DiskQueue[] = [];
        let model: ModelRecord[] = [];
        let nextId = 0;
        let batches: { batch: QueueBatch; lastId: number | undefined }[] = [];
        try {
          for (const step of operations) {
            switch (step.kind) {
              case "append":
                queue.append(step.records);
                for (const value of step.records) model.push({ id: nextId++, value, durable: false });
                break;
              case "flush":
                await queue.flush();
                for (const record of model) record.durable = true;
                break;
              case "peek": {
                const batch = await queue.peek(step.maxRecords, step.maxBytes);
                const expected = modelPeek(model, step.maxRecords, step.maxBytes);
                assert.deepEqual(
                  batch.records,
                  expected.map((record) => record.value),
                );
                batches.push({ batch, lastId: expected.at(-1)?.id });
                break;
              }
              case "ack": {
                const chosen = batches[batches.length - 1 - step.back];
                if (!chosen) break;
                await queue.ack(chosen.batch);
                const lastId = chosen.lastId;
                if (lastId !== undefined) model = model.filter((record) => record.id > lastId);
                break;
              }
              case "reopen":
                await queue.close();
                for (const record of model) record.durable = true;
                queue = await open();
                batches = [];
                break;
              case "crash": {
                const snapshot = `${dir}-crashed`;
                cpSync(dir, snapshot, { recursive: true });
                abandoned.push(queue);
                dir = snapshot;
                model = model.filter((record) => record.durable);
                queue = await open();
                batches = [];
                break;
              }
            }
            const stats = queue.stats();
            assert.equal(stats.depth, model.length, `depth after ${step.kind}`);
            assert.equal(stats.droppedCorrupt, 0);
            assert.equal(stats.droppedOverflow, 0);
            assert.equal(
              stats.bytes === 0,
              model.length === 0,
              `bytes ${stats.bytes} with ${model.length} records`,
            );
          }
          const everything = await queue.peek(Number.MAX_SAFE_INTEGER);
          assert.deepEqual(
            everything.records,
            model.map((record) => record.value),
          );
        } finally {
          await queue.close();
          for (const old of abandoned) await old.close();
        }
      }),
      { numRuns: 150 },
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
