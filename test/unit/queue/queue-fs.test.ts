import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { nodeQueueFs, writeFully } from "../../../queue/queue-fs.ts";
import { makeTempDir, removeTempDir } from "../../harness/cleanup.ts";

const dir = makeTempDir("queue-fs");
after(() => removeTempDir(dir));

async function readAll(path: string): Promise<string> {
  const file = await nodeQueueFs.open(path, "read");
  try {
    const buffer = Buffer.alloc(await file.size());
    const read = await file.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, read).toString("utf8");
  } finally {
    await file.close();
  }
}

describe("nodeQueueFs", () => {
  test("files written, synced, read back and truncated; each open mode keeps or empties; mkdir makes parents", async () => {
    const folder = join(dir, "round-trip", "nested");
    await nodeQueueFs.mkdir(folder);
    await nodeQueueFs.mkdir(folder);
    const path = join(folder, "a.seg");

    const created = await nodeQueueFs.open(path, "create");
    await writeFully(created, Buffer.from("hello world"), 0, 11, 0);
    await created.sync();
    assert.equal(await created.size(), 11);
    await created.truncate(5);
    await created.close();
    await nodeQueueFs.syncDir(folder);
    assert.equal(await readAll(path), "hello");

    const appended = await nodeQueueFs.open(path, "append");
    await writeFully(appended, Buffer.from("!"), 0, 1, await appended.size());
    await appended.close();
    assert.equal(await readAll(path), "hello!");

    await (await nodeQueueFs.open(path, "create")).close();
    assert.equal(await readAll(path), "");

    await nodeQueueFs.rename(path, join(folder, "b.seg"));
    assert.deepEqual(await nodeQueueFs.readdir(folder), ["b.seg"]);
    await nodeQueueFs.unlink(join(folder, "b.seg"));
    assert.deepEqual(await nodeQueueFs.readdir(folder), []);
    await assert.rejects(nodeQueueFs.open(join(folder, "missing.seg"), "read"), { code: "ENOENT" });
  });

  test("a closed file refuses every operation and never touches the file that reuses its descriptor", async () => {
    const closed = await nodeQueueFs.open(join(dir, "closed.seg"), "create");
    await closed.close();
    await closed.close();
    const otherPath = join(dir, "other.seg");
    writeFileSync(otherPath, "kept");
    const other = await nodeQueueFs.open(otherPath, "append");
    try {
      const closedFile = { code: "EBADF", message: "file closed" };
      await assert.rejects(closed.write(Buffer.from("lost"), 0, 4, 0), closedFile);
      await assert.rejects(closed.read(Buffer.alloc(4), 0, 4, 0), closedFile);
      await assert.rejects(closed.truncate(0), closedFile);
      await assert.rejects(closed.sync(), closedFile);
      await assert.rejects(closed.size(), closedFile);
    } finally {
      await other.close();
    }
    assert.equal(readFileSync(otherPath, "utf8"), "kept");
  });

  test("close waits for the operations under way", async () => {
    const path = join(dir, "in-flight.seg");
    writeFileSync(path, "abcdef");
    const file = await nodeQueueFs.open(path, "append");
    const buffer = Buffer.alloc(6);
    const reading = file.read(buffer, 0, 6, 0);
    const writing = file.write(Buffer.from("gh"), 0, 2, 6);
    await file.close();
    assert.equal(await reading, 6);
    assert.equal(buffer.toString("utf8"), "abcdef");
    assert.equal(await writing, 2);
    assert.equal(readFileSync(path, "utf8"), "abcdefgh");
  });
});
