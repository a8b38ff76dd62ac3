import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULT_MAX_LINE_BYTES, parseSignedLine } from "../../protocol/line.ts";
import { RejectReason } from "../../protocol/reasons.ts";
import { oracleSignedLine } from "./line-oracle.ts";
import { checkLine, lineParserTarget, longLineTarget } from "./targets.ts";

const GOOD = `homeward.grandma-pi.temp 21.5 1764000000 grandma-pi ${"A".repeat(86)}==`;

describe("the line parser under fuzzing (npm run fuzz runs the same properties a million times)", () => {
  test("random and mutated lines: it never throws and agrees with an independent regex oracle", () => {
    lineParserTarget.check({ numRuns: 20_000 });
  });

  test("long and non-ASCII input: line_too_long exactly when the UTF-8 bytes pass 1 KiB", () => {
    longLineTarget.check({ numRuns: 300 });
  });

  test("every byte value 0-255, at the start, middle and end of every field", () => {
    const fields = GOOD.split(" ");
    let accepted = 0;
    for (let code = 0; code <= 255; code++) {
      const char = String.fromCharCode(code);
      for (let field = 0; field < fields.length; field++) {
        const text = fields[field] as string;
        for (const at of [0, text.length >> 1, text.length]) {
          const changed = [...fields];
          changed[field] = text.slice(0, at) + char + text.slice(at);
          const line = changed.join(" ");
          checkLine(line);
          checkLine(`${line}\n`);
          checkLine(`${line}\r\n`);
          if (oracleSignedLine(line)) accepted++;
        }
      }
    }
    // Sanity: the oracle is not rejecting everything (digits in a value, letters in a metric do fit).
    assert.ok(accepted > 100, `only ${accepted} variants were well-formed`);
  });

  test("every byte value as a UTF-8 sequence (2-4 bytes, decoded as latin1 as the listeners do)", () => {
    for (const char of ["é", "€", "😀", "\u0085", "\u00a0", "\u2028", "\ufeff", "\ufffd"]) {
      const wire = Buffer.from(char, "utf8").toString("latin1");
      for (const line of [
        `${wire}${GOOD}`,
        GOOD.replace(" ", wire),
        `${GOOD}${wire}`,
        GOOD.replace(".temp", `.t${wire}`),
      ]) {
        checkLine(line);
        checkLine(line.normalize("NFC"));
      }
    }
  });

  test("huge inputs are refused as line_too_long without scanning forever", { timeout: 60_000 }, () => {
    const huge = [
      "a".repeat(16 * 1024 * 1024),
      " ".repeat(4 * 1024 * 1024),
      "a ".repeat(1024 * 1024),
      "\n".repeat(1024 * 1024),
      "é".repeat(2 * 1024 * 1024),
      "\ud800".repeat(1024 * 1024),
      "=".repeat(4 * 1024 * 1024),
      `${GOOD} ${"A".repeat(8 * 1024 * 1024)}==`,
      `${"9".repeat(4 * 1024 * 1024)} 1 1 k AAAA`,
    ];
    for (const text of huge) {
      const result = parseSignedLine(text);
      assert.ok(!result.ok);
      assert.equal(result.reason, RejectReason.LineTooLong, text.slice(0, 20));
    }
  });

  test("the cap is in UTF-8 bytes: 1024 ASCII bytes pass the length check, 1023 plus one é do not", () => {
    const pad = (length: number): string => `${"m".repeat(length - (GOOD.length - "homeward".length))}`;
    const exact = GOOD.replace("homeward", pad(DEFAULT_MAX_LINE_BYTES));
    assert.equal(Buffer.byteLength(exact), DEFAULT_MAX_LINE_BYTES);
    assert.ok(parseSignedLine(exact).ok);
    const over = exact.replace("mm", "mé");
    const result = parseSignedLine(over);
    assert.ok(!result.ok);
    assert.equal(result.reason, RejectReason.LineTooLong);
  });
});
