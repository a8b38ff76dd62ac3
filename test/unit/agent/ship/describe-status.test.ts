import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeShipStatus } from "../../../../agent/status/describe-status.ts";
import { sampleStatus } from "./sample-status.ts";

const NOW = Date.parse("2025-11-23T12:00:00Z");

describe("status in plain words", () => {
  test("a failure just now, after a recent send, is trouble but not yet a problem", () => {
    const report = describeShipStatus(
      sampleStatus(
        {
          lastShipAt: NOW - 90_000,
          lastError: { message: "the server is busy (HTTP 503)", at: NOW - 30_000 },
          nextAttemptAt: NOW + 20_000,
        },
        NOW,
      ),
      NOW,
    );
    assert.equal(report.healthy, true);
    assert.equal(
      report.lines[1],
      "Sending: having trouble — last sent 1 minute ago, trying again in 20 seconds",
    );
  });

  test("a server refusing most readings is a problem, even though lines go out", () => {
    const report = describeShipStatus(
      sampleStatus({ shippedLines: 10, droppedByReason: { unknown_key: 5000 } }, NOW),
      NOW,
    );
    assert.equal(report.healthy, false);
    assert.deepEqual(report.problems, [
      "the server refuses most readings (unknown_key: 5,000): the owner should check its auth file",
    ]);
    assert.ok(report.lines.includes("Refused by the server: 5,000 readings (unknown_key: 5,000)"));
  });

  test("a few refused readings among many are reported, not a problem", () => {
    const report = describeShipStatus(sampleStatus({ droppedByReason: { timestamp_too_old: 3 } }, NOW), NOW);
    assert.equal(report.healthy, true);
    assert.ok(report.lines.includes("Refused by the server: 3 readings (timestamp_too_old: 3)"));
  });

  test("a disk that cannot be written is a problem, said in plain words, and gone once it can", () => {
    const healthy = sampleStatus({}, NOW);
    const readOnly = { ...healthy, buffer: { ...healthy.buffer, problem: "EROFS: read-only file system" } };
    const report = describeShipStatus(readOnly, NOW);
    assert.equal(report.healthy, false);
    assert.deepEqual(report.problems, [
      "the disk cannot be written (EROFS: read-only file system): readings wait in memory only",
    ]);
    assert.match(report.lines[0] ?? "", /PROBLEM — the disk cannot be written/);
    assert.equal(describeShipStatus(healthy, NOW).healthy, true);
  });
});
