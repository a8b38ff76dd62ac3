import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { jsonErrorOffset } from "../../../../agent/config/load.ts";

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe("jsonErrorOffset", () => {
  it("finds no error in anything JSON.stringify writes", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(undefined, 2), (value, indent) => {
        assert.equal(jsonErrorOffset(JSON.stringify(value, null, indent)), undefined);
      }),
      { numRuns: 500 },
    );
  });

  it("agrees with JSON.parse on whether text is valid, including damaged JSON", () => {
    const damaged = fc
      .tuple(
        fc.jsonValue().map((value) => JSON.stringify(value, null, 1)),
        fc.nat(),
        fc.string({ maxLength: 2 }),
      )
      .map(([text, at, insert]) => {
        const position = text.length === 0 ? 0 : at % text.length;
        return text.slice(0, position) + insert + text.slice(position + 1);
      });
    fc.assert(
      fc.property(fc.oneof(damaged, fc.string()), (text) => {
        assert.equal(jsonErrorOffset(text) === undefined, parses(text), JSON.stringify(text));
      }),
      { numRuns: 3000 },
    );
  });

  it("points at the offending character", () => {
    assert.equal(jsonErrorOffset('{"a": x}'), 6);
    assert.equal(jsonErrorOffset('{"a": 1,}'), 8);
    assert.equal(jsonErrorOffset('{"a": 1'), 7);
    assert.equal(jsonErrorOffset("[1 2]"), 3);
  });
});
