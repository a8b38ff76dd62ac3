import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { NonceMemory } from "../../../agent/control/nonce-memory.ts";

const dir = mkdtempSync(join(tmpdir(), "homeward-nonces-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const WINDOW_MS = 5 * 60_000;
const T0 = 1_764_000_000_000;
const seconds = (ms: number): number => Math.floor(ms / 1000);

describe("NonceMemory", () => {
  it("takes a nonce once", () => {
    const memory = new NonceMemory({ windowMs: WINDOW_MS, nowMs: T0 });
    assert.equal(memory.take("nonce-aaaaaaaaaaaaaa", seconds(T0), T0), true);
    assert.equal(memory.take("nonce-aaaaaaaaaaaaaa", seconds(T0), T0 + 1000), false);
    assert.equal(memory.take("nonce-bbbbbbbbbbbbbb", seconds(T0), T0 + 1000), true);
  });

  it("forgets nonces whose messages have left the time window", () => {
    const memory = new NonceMemory({ windowMs: WINDOW_MS, nowMs: T0 });
    memory.take("old-aaaaaaaaaaaaaaaa", seconds(T0), T0);
    memory.take("new-aaaaaaaaaaaaaaaa", seconds(T0 + 4 * 60_000), T0 + 4 * 60_000);
    assert.equal(memory.size, 2);
    memory.take("later-aaaaaaaaaaaaaa", seconds(T0 + 6 * 60_000), T0 + 6 * 60_000);
    assert.equal(memory.size, 2, "the first one is older than the window and gone");
  });

  it("bounded: an evicted nonce raises a floor, so its message still cannot come back", () => {
    const memory = new NonceMemory({ windowMs: WINDOW_MS, nowMs: T0, maxEntries: 3 });
    for (let index = 0; index < 4; index++) {
      assert.ok(memory.take(`nonce-${index}-aaaaaaaaaaaa`, seconds(T0) + index, T0 + index * 1000));
    }
    assert.equal(memory.size, 3);
    assert.equal(memory.take("nonce-0-aaaaaaaaaaaa", seconds(T0), T0 + 5000), false, "the evicted one");
    assert.equal(memory.take("fresh-at-the-floor-x", seconds(T0), T0 + 5000), false, "anything as old as it");
    assert.equal(memory.take("fresh-after-floor-xx", seconds(T0) + 10, T0 + 10_000), true);
  });

  it("survives a restart through its file (mode 0600)", () => {
    const file = join(dir, "nonces.json");
    const first = new NonceMemory({ windowMs: WINDOW_MS, nowMs: T0, file });
    assert.ok(first.take("before-restart-aaaa", seconds(T0), T0));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const second = new NonceMemory({ windowMs: WINDOW_MS, nowMs: T0 + 60_000, file });
    assert.equal(second.take("before-restart-aaaa", seconds(T0), T0 + 60_000), false);
    assert.ok(second.take("after-restart-aaaaa", seconds(T0 + 60_000), T0 + 60_000));
    assert.match(readFileSync(file, "utf8"), /after-restart-aaaaa/);
  });

  it("distrusts everything before its start when the file is corrupt", () => {
    const file = join(dir, "corrupt.json");
    writeFileSync(file, "{nope");
    const problems: string[] = [];
    const memory = new NonceMemory({
      windowMs: WINDOW_MS,
      nowMs: T0,
      file,
      onProblem: (p) => problems.push(p),
    });
    assert.equal(problems.length, 1);
    assert.equal(memory.take("sent-before-start-xx", seconds(T0) - 30, T0), false);
    assert.equal(memory.take("sent-after-start-xxx", seconds(T0) + 1, T0 + 1000), true);
  });
});
