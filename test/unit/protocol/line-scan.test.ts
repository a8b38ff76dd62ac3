import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  canonicalMessage,
  carbonLineOf,
  formatCarbonLine,
  formatSignedLine,
  parseSignedLine,
  parseSignedLineByFields,
  signedMessage,
} from "../../../protocol/line.ts";
import type { ParseResult, SignedLine } from "../../../protocol/line.ts";

// parseSignedLine's one-pass fast path must decide exactly as the field-by-field parser: the same
// line for a good line, the same reason and detail (from that parser) for anything else. The
// message it may keep from the received text must be exactly what would be rebuilt from the fields.

const segment = fc.stringMatching(/^[A-Za-z0-9_:-]{1,12}$/);
const validLine: fc.Arbitrary<SignedLine> = fc.record({
  metric: fc.array(segment, { minLength: 1, maxLength: 6 }).map((parts) => parts.join(".")),
  value: fc.oneof(
    fc.integer().map(String),
    fc.double({ noNaN: true }).map(String),
    fc.stringMatching(/^[+-]?[0-9]{0,4}\.?[0-9]{0,4}([eE][+-]?[0-9]{0,4})?$/),
    fc.constantFrom("1e400", "-1e309", "0", ".", "5.", ".5", "+.5e-3", "1E", "1e+", "Infinity", "NaN"),
    // around the most digits a number without an exponent can have and stay finite
    fc.constantFrom(307, 308, 309, 310).map((digits) => "9".repeat(digits)),
    fc.constantFrom(308, 309).map((digits) => `-${"1".repeat(digits)}.5`),
  ),
  timestamp: fc.oneof(
    fc.integer({ min: 0, max: 4_000_000_000 }),
    fc.constantFrom(0, 2 ** 53, 2 ** 53 + 2, 9_999_999_999_999_998, 1e16, 999_999_999_999_999, 1e15),
  ),
  keyId: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/), fc.stringMatching(/^[A-Za-z0-9_.-]{65,70}$/)),
  signature: fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString("base64")),
    fc.stringMatching(/^[A-Za-z0-9+/=]{0,90}$/),
  ),
});

/** One character of a line changed, inserted or removed, from the characters that matter to the grammar. */
const mutated = fc
  .tuple(
    validLine.map(formatSignedLine),
    fc.nat(),
    fc.constantFrom(..." .-_:+=/eE0159aZ\t\r\n\u007f\u00e9\u2603".split("")),
    fc.constantFrom("replace", "insert", "delete"),
  )
  .map(([line, at, char, how]) => {
    const index = at % (line.length + 1);
    if (how === "insert") return line.slice(0, index) + char + line.slice(index);
    if (how === "delete") return line.slice(0, index) + line.slice(index + 1);
    return line.slice(0, index) + char + line.slice(index + 1);
  });

/** The result with SignedLine.message left out, after checking that it is the canonical message. */
function withoutKeptMessage(result: ParseResult<SignedLine>): ParseResult<SignedLine> {
  if (!result.ok) return result;
  const { message, ...line } = result.line;
  if (message !== undefined) {
    assert.equal(message, canonicalMessage(line));
    assert.equal(signedMessage(result.line), canonicalMessage(line));
    assert.equal(carbonLineOf(result.line), formatCarbonLine(line));
  }
  return { ok: true, line };
}

function assertSame(text: string, maxLineBytes?: number): void {
  const options = maxLineBytes === undefined ? {} : { maxLineBytes };
  assert.deepEqual(
    withoutKeptMessage(parseSignedLine(text, options)),
    parseSignedLineByFields(text, options),
    JSON.stringify(text),
  );
}

describe("parseSignedLine's fast path", () => {
  test("agrees with the field-by-field parser on generated lines, with and without CR/LF", () => {
    fc.assert(
      fc.property(validLine, fc.constantFrom("", "\n", "\r", "\r\n", "\n\n", "\r\r"), (line, end) =>
        assertSame(formatSignedLine(line) + end),
      ),
      { numRuns: 5000 },
    );
  });

  test("agrees on lines with one character changed, inserted or removed", () => {
    fc.assert(
      fc.property(mutated, (text) => assertSame(text)),
      { numRuns: 10000 },
    );
  });

  test("agrees at every length cap around the line's own length", () => {
    fc.assert(
      fc.property(
        validLine,
        fc.integer({ min: -3, max: 3 }),
        fc.constantFrom("", "\r"),
        (line, delta, cr) => {
          const text = formatSignedLine(line) + cr;
          assertSame(text, Math.max(0, formatSignedLine(line).length + delta));
        },
      ),
      { numRuns: 3000 },
    );
  });

  test("agrees on arbitrary text from the line alphabet", () => {
    const alphabet = fc.constantFrom(..."ab.1 0-+eE\t\r\n=/A_:".split(""));
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 120 }), (chars) => assertSame(chars.join(""))),
      { numRuns: 5000 },
    );
  });
});
