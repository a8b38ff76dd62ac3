import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { makeTempDir, removeTempDir } from "../../../harness/cleanup.ts";
import { formatCount, formatSpan } from "../../../../agent/status/plain-words.ts";
import type { ShipStatus } from "../../../../agent/status/ship-status.ts";
import { readStatusFile, statusFilePath, StatusFileWriter } from "../../../../agent/status/status-file.ts";
import { sampleStatus } from "./sample-status.ts";

const dir = makeTempDir("status-file");
after(() => removeTempDir(dir));

describe("status file", () => {
  test("written whole, only when something changed or the heartbeat is due, and read back", async () => {
    const stateDir = join(dir, "state", "nested");
    const path = statusFilePath(stateDir);
    let status: ShipStatus = sampleStatus({ updatedAt: 1_000_000 });
    const writer = new StatusFileWriter({ path, snapshot: () => status, heartbeatMs: 60_000 });

    await writer.writeIfDue();
    assert.deepEqual(readStatusFile(path), status);

    rmSync(path);
    status = { ...status, updatedAt: 1_010_000 };
    await writer.writeIfDue();
    assert.equal(existsSync(path), false, "nothing changed but the time: no write");

    status = { ...status, shipErrors: status.shipErrors + 1 };
    await writer.writeIfDue();
    assert.equal(readStatusFile(path).shipErrors, status.shipErrors);

    rmSync(path);
    status = { ...status, updatedAt: 1_010_000 + 60_000 };
    await writer.writeIfDue();
    assert.equal(readStatusFile(path).updatedAt, 1_070_000, "the heartbeat rewrites an unchanged status");

    status = { ...status, updatedAt: 1_080_000 };
    await writer.close();
    assert.equal(readStatusFile(path).updatedAt, 1_080_000, "close writes the final snapshot");
    assert.deepEqual(readdirSync(stateDir), ["status.json"], "no temporary file left behind");
  });

  test("a missing, broken or foreign file is refused with a reason a person can act on", () => {
    const missing = join(dir, "missing");
    assert.throws(() => readStatusFile(statusFilePath(missing)), {
      message: `no status file at ${join(missing, "status.json")}: is the agent running?`,
    });
    const broken = join(dir, "broken.json");
    writeFileSync(broken, "{ half");
    assert.throws(() => readStatusFile(broken), /is not valid JSON/);
    const future = join(dir, "future.json");
    writeFileSync(future, JSON.stringify({ ...sampleStatus(), version: 2 }));
    assert.throws(() => readStatusFile(future), /version 2/);
    const wrong = join(dir, "wrong.json");
    writeFileSync(wrong, JSON.stringify({ ...sampleStatus(), buffer: { depth: "many" } }));
    assert.throws(() => readStatusFile(wrong), /buffer\.depth/);
    assert.ok(readFileSync(wrong, "utf8").length > 0);
  });
});

describe("plain words", () => {
  test("counts get thousands separators; spans one unit, rounded down", () => {
    assert.deepEqual([0, 999, 1234, 1234567].map(formatCount), ["0", "999", "1,234", "1,234,567"]);
    assert.deepEqual(
      [500, 1000, 12_400, 60_000, 5 * 60_000 + 59_000, 3 * 3_600_000 + 1, 47 * 3_600_000, 50 * 3_600_000].map(
        formatSpan,
      ),
      [
        "less than a second",
        "1 second",
        "12 seconds",
        "1 minute",
        "5 minutes",
        "3 hours",
        "47 hours",
        "2 days",
      ],
    );
  });
});
