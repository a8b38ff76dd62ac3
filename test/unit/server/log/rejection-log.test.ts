import assert from "node:assert/strict";
import { test } from "node:test";
import pino from "pino";
import { RejectReason } from "../../../../protocol/reasons.ts";
import { RejectionLog } from "../../../../server-stub/log/rejection-log.ts";

test("rejections are logged at a bounded rate, truncated, with a count of those left out", () => {
  const lines: string[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
  let suppressed = 0;
  const log = new RejectionLog(logger, { rate: 1, burst: 2 }, () => suppressed++);
  const rejection = {
    reason: RejectReason.BadSignature,
    source: "10.0.0.1",
    keyId: "grandma-pi",
    line: "x".repeat(500),
  };
  for (let index = 0; index < 100; index++) log.log(rejection, 0);
  assert.equal(lines.length, 2);
  assert.equal(suppressed, 98);
  log.log(rejection, 1000);
  assert.equal(lines.length, 3);
  const last = JSON.parse(lines[2] as string);
  assert.equal(last.unlogged_since, 98);
  assert.equal(last.line.length, 121);
  assert.equal(last.key, "grandma-pi");
});
