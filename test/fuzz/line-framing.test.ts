import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { frameChunks, frameModel, framingTarget } from "./targets.ts";

describe("stream framing (TCP and TLS listeners) under fuzzing", () => {
  test("any split of the byte stream into chunks yields the same lines as the model, and the same close", () => {
    framingTarget.check({ numRuns: 5_000 });
  });

  test("byte by byte: a line just over the cap closes before its newline arrives", () => {
    const max = 64;
    const text = `ok line\n${"z".repeat(max + 2)}\nnever seen\n`;
    const chunks = [...Buffer.from(text, "latin1")].map((byte) => Buffer.from([byte]));
    const framed = frameChunks(chunks, max);
    assert.deepEqual(framed, frameModel(text, max));
    assert.equal(framed.closed, true);
    assert.deepEqual(framed.lines[0], "ok line");
  });

  test("one CR of slack: a line of exactly cap + CR passes", () => {
    const max = 64;
    const text = `${"c".repeat(max)}\r\n`;
    assert.deepEqual(frameChunks([Buffer.from(text, "latin1")], max), {
      lines: [`${"c".repeat(max)}\r`],
      closed: false,
    });
  });
});
