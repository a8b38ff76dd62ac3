// The agent's logger writes the lines pino writes (the server keeps pino): same keys, same order.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLineLogger } from "../../../runtime/log/line-logger.ts";
import { createLogger } from "../../../runtime/log/logger.ts";

const withoutTime = (line: string): string => line.replace(/"time":"[^"]+"|time=\S+/, "TIME");

test("the same lines as pino, in JSON and logfmt", () => {
  for (const format of ["json", "logfmt"] as const) {
    const ours: string[] = [];
    const pinos: string[] = [];
    const fields = { device: "grandma-pi", n: 3, nested: { a: [1, "b c"] }, gone: undefined };
    createLineLogger(format, "info", (line) => ours.push(line)).warn(fields, 'a "message"');
    createLogger(format, "info", { write: (line: string) => void pinos.push(line) }).warn(
      fields,
      'a "message"',
    );
    createLineLogger(format, "info", (line) => ours.push(line)).info({ only: "fields" });
    createLogger(format, "info", { write: (line: string) => void pinos.push(line) }).info({ only: "fields" });
    assert.deepEqual(ours.map(withoutTime), pinos.map(withoutTime), format);
  }
});

test("levels below the threshold are dropped; errors keep their message and stack", () => {
  const lines: string[] = [];
  const log = createLineLogger("json", "warn", (line) => lines.push(line));
  log.trace({}, "no");
  log.debug({}, "no");
  log.info({}, "no");
  log.error({ err: new TypeError("boom"), big: 12n }, "yes");
  assert.equal(lines.length, 1);
  const record = JSON.parse(lines[0] as string) as Record<string, unknown>;
  assert.equal(record.level, "error");
  assert.match(String(record.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(
    { ...(record.err as object), stack: "" },
    { type: "TypeError", message: "boom", stack: "" },
  );
  assert.equal(record.big, "12");
  assert.equal(record.msg, "yes");
});

test("a circular field does not cost the line", () => {
  const lines: string[] = [];
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  createLineLogger("json", "info", (line) => lines.push(line)).info({ circular }, "still here");
  assert.equal((JSON.parse(lines[0] as string) as { msg: string }).msg, "still here");
});
