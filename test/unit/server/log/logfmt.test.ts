import assert from "node:assert/strict";
import { test } from "node:test";
import { jsonToLogfmt } from "../../../../runtime/log/logfmt.ts";
import { createLogger } from "../../../../runtime/log/logger.ts";

test("pino's JSON becomes logfmt, quoting what needs it", () => {
  assert.equal(
    jsonToLogfmt(
      JSON.stringify({
        level: "info",
        msg: "line rejected",
        key: "grandma-pi",
        line: 'a b="c"',
        n: 3,
        list: ["x"],
      }),
    ),
    'level=info msg="line rejected" key=grandma-pi line="a b=\\"c\\"" n=3 list="[\\"x\\"]"\n',
  );
  assert.equal(jsonToLogfmt(JSON.stringify({ ctl: "a\u0001b", empty: "" })), 'ctl="a\\u0001b" empty=""\n');
});

test("the logger writes logfmt or JSON at amproxy's levels", () => {
  const lines: string[] = [];
  const sink = { write: (line: string) => void lines.push(line) };
  createLogger("logfmt", "warn", sink).info("hidden");
  createLogger("logfmt", "warn", sink).warn({ source: "127.0.0.1" }, "shown");
  createLogger("json", "err", sink).error("as json");
  createLogger("json", "all", sink).trace("everything");
  assert.equal(lines.length, 3);
  assert.match(lines[0] as string, /^level=warn time=\S+ source=127\.0\.0\.1 msg=shown\n$/);
  assert.equal(JSON.parse(lines[1] as string).msg, "as json");
  assert.equal(JSON.parse(lines[2] as string).level, "trace");
});
