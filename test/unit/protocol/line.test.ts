import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  canonicalMessage,
  formatCarbonLine,
  formatSignedLine,
  parseCarbonLine,
  parseSignedLine,
  parseUnsignedLine,
} from "../../../protocol/line.ts";
import type { SignedLine } from "../../../protocol/line.ts";
import { ALL_REJECT_REASONS, RejectReason } from "../../../protocol/reasons.ts";

const SIG88 = `${"A".repeat(86)}==`;
const GOOD = `a.b.c 1.5 1764000000 grandma-pi ${SIG88}`;

function reasonOf(text: string): RejectReason | "ok" {
  const result = parseSignedLine(text);
  return result.ok ? "ok" : result.reason;
}

describe("parseSignedLine accepts", () => {
  test("a well-formed line, with its fields verbatim", () => {
    const result = parseSignedLine(GOOD);
    assert.ok(result.ok);
    assert.deepEqual(result.line, {
      metric: "a.b.c",
      value: "1.5",
      timestamp: 1764000000,
      keyId: "grandma-pi",
      signature: SIG88,
      message: "a.b.c 1.5 1764000000 grandma-pi",
    });
  });

  test("a trailing CR before LF, as amproxy does", () => {
    assert.equal(reasonOf(`${GOOD}\r\n`), "ok");
    assert.equal(reasonOf(`${GOOD}\r`), "ok");
  });

  test("values in every finite decimal form", () => {
    for (const value of ["0", "-1", "+2", "0.5", ".5", "5.", "-1.5e-3", "1E6", "734003200"]) {
      assert.equal(reasonOf(`m ${value} 1 k ${SIG88}`), "ok", value);
    }
  });
});

describe("parseSignedLine names the reason for", () => {
  test("4 fields", () => assert.equal(reasonOf(`a.b 1 1764000000 ${SIG88}`), RejectReason.FieldCount));
  test("6 fields", () => assert.equal(reasonOf(`${GOOD} extra`), RejectReason.FieldCount));
  test("a double space", () =>
    assert.equal(reasonOf(`a.b.c  1.5 1764000000 grandma-pi ${SIG88}`), RejectReason.EmptyField));
  test("a leading space", () => assert.equal(reasonOf(` ${GOOD}`), RejectReason.EmptyField));
  test("tabs", () => assert.equal(reasonOf(GOOD.replace(" ", "\t")), RejectReason.BadSeparator));

  test("a timestamp with a leading zero", () =>
    assert.equal(reasonOf(`a 1 01764000000 k ${SIG88}`), RejectReason.BadTimestamp));
  test("a timestamp with a sign", () => {
    assert.equal(reasonOf(`a 1 +1764000000 k ${SIG88}`), RejectReason.BadTimestamp);
    assert.equal(reasonOf(`a 1 -1764000000 k ${SIG88}`), RejectReason.BadTimestamp);
  });
  test("a timestamp with a fraction", () =>
    assert.equal(reasonOf(`a 1 1764000000.5 k ${SIG88}`), RejectReason.BadTimestamp));

  for (const value of ["NaN", "Inf", "-Infinity", "0x1F", "", "abc", "1e999", "1,5", "--1"]) {
    test(`the value ${JSON.stringify(value)}`, () => {
      const line = `a ${value} 1764000000 k ${SIG88}`;
      assert.equal(reasonOf(line), value === "" ? RejectReason.EmptyField : RejectReason.BadValue);
    });
  }

  test("a metric with a bad character", () => {
    assert.equal(reasonOf(`a.b/c 1 1764000000 k ${SIG88}`), RejectReason.BadMetric);
    assert.equal(reasonOf(`a.bé 1 1764000000 k ${SIG88}`), RejectReason.BadMetric);
  });
  test("a metric with an empty segment", () => {
    assert.equal(reasonOf(`a..b 1 1764000000 k ${SIG88}`), RejectReason.BadMetric);
    assert.equal(reasonOf(`.a 1 1764000000 k ${SIG88}`), RejectReason.BadMetric);
    assert.equal(reasonOf(`a. 1 1764000000 k ${SIG88}`), RejectReason.BadMetric);
  });

  test("a key_id that is too long", () => {
    assert.equal(reasonOf(`a 1 1764000000 ${"k".repeat(64)} ${SIG88}`), "ok");
    assert.equal(reasonOf(`a 1 1764000000 ${"k".repeat(65)} ${SIG88}`), RejectReason.BadKeyId);
  });
  test("a key_id with a bad character", () =>
    assert.equal(reasonOf(`a 1 1764000000 grandma:pi ${SIG88}`), RejectReason.BadKeyId));

  test("a signature that is not base64", () => {
    assert.equal(reasonOf(`a 1 1764000000 k ${"!".repeat(88)}`), RejectReason.BadSignatureEncoding);
    assert.equal(reasonOf(`a 1 1764000000 k ${"A".repeat(87)}`), RejectReason.BadSignatureEncoding);
    assert.equal(reasonOf(`a 1 1764000000 k ${"A".repeat(86)}-_`), RejectReason.BadSignatureEncoding);
  });

  test("control bytes inside a field", () => {
    for (const byte of ["\u0000", "\u0001", "\u001b", "\u007f", "\r", "\n"]) {
      assert.equal(
        reasonOf(`a.b${byte}c 1 1764000000 k ${SIG88}`),
        RejectReason.ControlByte,
        JSON.stringify(byte),
      );
    }
  });

  test("a line over the length cap", () => {
    const long = `${"a".repeat(1024)} 1 1764000000 k ${SIG88}`;
    assert.equal(reasonOf(long), RejectReason.LineTooLong);
    const result = parseSignedLine(GOOD, { maxLineBytes: 20 });
    assert.ok(!result.ok);
    assert.equal(result.reason, RejectReason.LineTooLong);
  });
});

describe("plain Carbon lines and unsigned messages", () => {
  test("parseCarbonLine takes exactly three fields", () => {
    const result = parseCarbonLine("a.b 0.42 1764000000\n");
    assert.ok(result.ok);
    assert.equal(formatCarbonLine(result.line), "a.b 0.42 1764000000\n");
    const four = parseCarbonLine("a.b 0.42 1764000000 x");
    assert.ok(!four.ok);
    assert.equal(four.reason, RejectReason.FieldCount);
  });

  test("parseUnsignedLine takes the four signed fields", () => {
    const result = parseUnsignedLine("foo 1234 1425059762 my_public_key");
    assert.ok(result.ok);
    assert.equal(canonicalMessage(result.line), "foo 1234 1425059762 my_public_key");
    const five = parseUnsignedLine(GOOD);
    assert.ok(!five.ok);
    assert.equal(five.reason, RejectReason.FieldCount);
  });
});

const segment = fc.stringMatching(/^[A-Za-z0-9_:-]{1,12}$/);
const validLine: fc.Arbitrary<SignedLine> = fc.record({
  metric: fc.array(segment, { minLength: 1, maxLength: 6 }).map((parts) => parts.join(".")),
  value: fc.oneof(
    fc.integer().map(String),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
    fc.stringMatching(/^-?[0-9]{1,6}\.[0-9]{1,6}(e-?[0-9]{1,2})?$/),
  ),
  timestamp: fc.integer({ min: 0, max: 4_000_000_000 }),
  keyId: fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/),
  signature: fc
    .uint8Array({ minLength: 1, maxLength: 64 })
    .map((bytes) => Buffer.from(bytes).toString("base64")),
});

describe("properties", () => {
  test("parse(format(x)) equals x for random valid lines", () => {
    fc.assert(
      fc.property(validLine, (line) => {
        const result = parseSignedLine(formatSignedLine(line));
        assert.ok(result.ok, result.ok ? "" : `${result.reason}: ${formatSignedLine(line)}`);
        const { message, ...fields } = result.line;
        assert.deepEqual(fields, { ...line });
        if (message !== undefined) assert.equal(message, canonicalMessage(line));
      }),
      { numRuns: 2000 },
    );
  });

  test("random bytes never throw out of the parser; they yield a known reason", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500 }), (bytes) => {
        const text = Buffer.from(bytes).toString("latin1");
        const result = parseSignedLine(text);
        if (!result.ok) assert.ok(ALL_REJECT_REASONS.includes(result.reason));
        const plain = parseCarbonLine(text);
        if (!plain.ok) assert.ok(ALL_REJECT_REASONS.includes(plain.reason));
      }),
      { numRuns: 5000 },
    );
  });

  test("random text built from the line alphabet never throws", () => {
    const alphabet = fc.constantFrom(..."ab.1 0-+eE\t\r\n=/+A_:".split(""));
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 120 }), (chars) => {
        const result = parseSignedLine(chars.join(""));
        assert.equal(typeof result.ok, "boolean");
      }),
      { numRuns: 5000 },
    );
  });
});
