import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { makeTempDir, removeTempDir } from "../../../harness/cleanup.ts";
import { freePort } from "../../../harness/free-port.ts";
import { pollUntil } from "../../../harness/poll.ts";
import { runHomeward } from "../../../support/cli.ts";
import { Shipper } from "../../../../agent/ship/shipper.ts";
import type { ShipStatus } from "../../../../agent/status/ship-status.ts";
import { statusFilePath, StatusFileWriter } from "../../../../agent/status/status-file.ts";
import { createTransport } from "../../../../agent/transports/index.ts";
import { DiskQueue } from "../../../../queue/disk-queue.ts";
import { testLines } from "../transports/lines.ts";
import { sampleStatus } from "./sample-status.ts";

const dir = makeTempDir("status-command");
after(() => removeTempDir(dir));

let dirs = 0;
function stateDirWith(status: ShipStatus | undefined): string {
  const stateDir = join(dir, `state-${++dirs}`);
  mkdirSync(stateDir);
  if (status) writeFileSync(statusFilePath(stateDir), JSON.stringify(status));
  return stateDir;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe("homeward status", () => {
  test("a healthy agent: all good, exit 0", async () => {
    const stateDir = stateDirWith(sampleStatus());
    const result = await runHomeward(["status", "--state-dir", stateDir]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split("\n");
    assert.equal(lines[0], "homeward agent on grandma-pi: all good");
    assert.match(lines[1] ?? "", /^Sending: OK — last sent 1\d seconds ago$/);
    assert.equal(lines[2], "Waiting to send: nothing");
    assert.equal(lines[3], "Last problem: none");
    assert.match(result.stdout, /Server: https:\/\/metrics\.example\.org\/v1\/lines/);
  });

  test("an outage: what waits, how old, the last problem; exit 1 when nothing went out for long", async () => {
    const now = Date.now();
    const stateDir = stateDirWith(
      sampleStatus(
        {
          lastShipAt: now - 3 * HOUR - 5 * MINUTE,
          lastError: {
            message: "could not reach metrics.example.org (connection refused, ECONNREFUSED)",
            at: now - 5 * MINUTE - 10_000,
          },
          shipErrors: 97,
          buffer: { depth: 1234, bytes: 200_000, droppedOverflow: 0, droppedCorrupt: 0 },
          oldestReadingAt: now - 3 * HOUR - 10 * MINUTE,
          nextAttemptAt: now + 40 * 60_000,
          droppedByReason: { bad_signature: 2, timestamp_too_old: 1 },
        },
        now,
      ),
    );
    const result = await runHomeward(["status", "--state-dir", stateDir]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^homeward agent on grandma-pi: PROBLEM — nothing sent for 3 hours\n/);
    assert.match(
      result.stdout,
      /\nSending: NOT OK — last sent 3 hours ago, trying again in (39|40) minutes\n/,
    );
    assert.match(result.stdout, /\nWaiting to send: 1,234 readings \(oldest 3 hours old\)\n/);
    assert.match(
      result.stdout,
      /\nLast problem: could not reach metrics\.example\.org \(connection refused, ECONNREFUSED\), 5 minutes ago\n/,
    );
    assert.match(
      result.stdout,
      /\nRefused by the server: 3 readings \(bad_signature: 2, timestamp_too_old: 1\)\n/,
    );
  });

  test("catching up after an outage shows how far along it is; --max-silence sets what counts as too long", async () => {
    const now = Date.now();
    const status = sampleStatus(
      {
        lastShipAt: now - 2_000,
        lastError: { message: "the server is busy (HTTP 503)", at: now - 20 * MINUTE },
        buffer: { depth: 3000, bytes: 500_000, droppedOverflow: 120, droppedCorrupt: 0 },
        oldestReadingAt: now - 2 * HOUR,
        catchUp: {
          startedAt: now - MINUTE,
          backlogAtStart: 5000,
          remaining: 3000,
          fractionDone: 0.4,
          etaMs: 60_000,
        },
      },
      now,
    );
    const stateDir = stateDirWith(status);
    const result = await runHomeward(["status", "--state-dir", stateDir]);
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /\nCatching up: 40% done \(3,000 readings left, about 1 minute to go\)\n/);
    assert.match(result.stdout, /\nLast problem: the server is busy \(HTTP 503\), 20 minutes ago\n/);
    assert.match(result.stdout, /\nLost because the buffer was full: 120 readings\n/);

    const strict = await runHomeward(["status", "--state-dir", stateDir, "--max-silence", "1s"]);
    assert.equal(strict.code, 1);
    assert.equal((await runHomeward(["status", "--max-silence", "soon"])).code, 2);
  });

  test("no status file, or one the agent stopped updating: says so, exit 1", async () => {
    const empty = stateDirWith(undefined);
    const missing = await runHomeward(["status", "--state-dir", empty]);
    assert.equal(missing.code, 1);
    assert.equal(
      missing.stdout,
      `homeward agent: PROBLEM — no status file at ${join(empty, "status.json")}: is the agent running?\n`,
    );

    const now = Date.now();
    const stale = stateDirWith(
      sampleStatus({ updatedAt: now - 10 * MINUTE - 5_000, lastShipAt: now - 10 * MINUTE - 9_000 }, now),
    );
    const result = await runHomeward(["status", "--state-dir", stale]);
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /PROBLEM — the agent has not updated its status for 10 minutes: is it running\?/,
    );
  });

  test("--json gives the verdict and the raw status", async () => {
    const status = sampleStatus();
    const result = await runHomeward(["status", "--json", "--state-dir", stateDirWith(status)]);
    assert.equal(result.code, 0);
    const parsed = JSON.parse(result.stdout) as { healthy: boolean; problems: string[]; status: ShipStatus };
    assert.equal(parsed.healthy, true);
    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(parsed.status, status);
  });

  test("end to end: a shipper that cannot reach its server, its status file, and the command", async (t) => {
    const stateDir = stateDirWith(undefined);
    const port = await freePort();
    const transport = createTransport({ url: `https://127.0.0.1:${port}` });
    const queue = await DiskQueue.open({ dir: join(stateDir, "buffer"), fsync: false });
    queue.append(testLines(25));
    await queue.flush();
    const shipper = new Shipper({ queue, transport, device: "grandma-pi", random: () => 0.5 });
    const writer = new StatusFileWriter({ path: statusFilePath(stateDir), snapshot: () => shipper.status() });
    t.after(async () => {
      await shipper.stop();
      await transport.close();
      await queue.close();
    });
    shipper.start();
    await pollUntil(() => (shipper.status().shipErrors > 0 ? true : undefined), { what: "a failed attempt" });
    await shipper.stop();
    await writer.close();

    const result = await runHomeward(["status", "--state-dir", stateDir]);
    assert.equal(result.code, 0, "one failure just now is not yet a problem");
    assert.match(result.stdout, /^homeward agent on grandma-pi: all good\n/);
    assert.match(result.stdout, /\nSending: not yet — nothing sent since the agent started/);
    assert.match(result.stdout, /\nWaiting to send: 25 readings \(oldest \d+ days old\)\n/);
    assert.match(
      result.stdout,
      /\nLast problem: could not reach 127\.0\.0\.1 \(connection refused, ECONNREFUSED\), (just now|\d+ seconds? ago)\n/,
    );
  });
});
