import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FaultLog, sameFaultText } from "../../../../agent/run/fault-log.ts";

interface Logged {
  level: "info" | "warn";
  details: Record<string, unknown>;
  message: string;
}

function recordingLog(): { lines: Logged[]; sink: ConstructorParameters<typeof FaultLog>[0]["log"] } {
  const lines: Logged[] = [];
  return {
    lines,
    sink: {
      info: (details, message) =>
        lines.push({ level: "info", details: details as Record<string, unknown>, message }),
      warn: (details, message) =>
        lines.push({ level: "warn", details: details as Record<string, unknown>, message }),
    },
  };
}

describe("FaultLog", () => {
  test("a fault that repeats is logged once per interval, with how often it happened", () => {
    let now = 0;
    const { lines, sink } = recordingLog();
    const faults = new FaultLog({ log: sink, intervalMs: 60_000, now: () => now });
    for (let second = 0; second < 150; second++) {
      now = second * 1000;
      faults.report("ship", "could not reach example.org (name not found, ENOTFOUND)", { attempt: second });
    }
    assert.deepEqual(
      lines.map((line) => [line.details.occurrences, line.details.attempt]),
      [
        [1, 0],
        [60, 60],
        [60, 120],
      ],
    );
    faults.clear("ship", "sending again");
    assert.deepEqual(lines.at(-1), {
      level: "info",
      details: { fault: "ship", occurrences: 150 },
      message: "sending again",
    });
    assert.equal(faults.active("ship"), false);
  });

  test("a different fault is logged at once; a clear without a fault says nothing", () => {
    const { lines, sink } = recordingLog();
    const faults = new FaultLog({ log: sink, intervalMs: 60_000, now: () => 0 });
    faults.clear("ship", "sending again");
    faults.report("ship", "did not trust h (the server's certificate has expired, CERT_HAS_EXPIRED)");
    faults.report(
      "ship",
      "did not trust h (the server's certificate is not trusted, UNABLE_TO_VERIFY_LEAF_SIGNATURE)",
    );
    faults.report("ship", "did not trust h (the server's certificate has expired, CERT_HAS_EXPIRED)");
    assert.equal(lines.length, 2);
  });

  test("numbers, quoted paths and errno text do not make a new fault", () => {
    assert.equal(
      sameFaultText("writing 3 record(s) failed: EROFS: read-only file system, open '/a/0001.seg'"),
      sameFaultText("writing 700 record(s) failed: EROFS: read-only file system, write '/a/0002.seg'"),
    );
    assert.notEqual(sameFaultText("failed: EROFS: x"), sameFaultText("failed: ENOSPC: x"));
  });
});
