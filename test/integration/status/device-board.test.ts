import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { SignedLine } from "../../../protocol/line.ts";
import { RejectReason } from "../../../protocol/reasons.ts";
import {
  DeviceBoard,
  OTHER_UNKNOWN,
  SKEW_SAMPLES,
  UNIDENTIFIED,
} from "../../../server-stub/status/device-board.ts";
import type { DeviceStatus } from "../../../server-stub/status/device-board.ts";
import { escapeHtml, formatSpan, statusHtml, statusJson } from "../../../server-stub/status/status-page.ts";
import type { ServerSummary } from "../../../server-stub/status/status-page.ts";

const T0 = 1_800_000_000_000;

function line(keyId: string, metric: string, value: string, timestamp: number): SignedLine {
  return { keyId, metric, value, timestamp, signature: "c2ln" };
}

function boardWith(keys: Record<string, boolean>, maxUnknownKeys?: number) {
  const table = new Map(Object.entries(keys).map(([keyId, disabled]) => [keyId, { disabled }]));
  const board = new DeviceBoard({
    keys: () => table,
    ...(maxUnknownKeys !== undefined && { maxUnknownKeys }),
  });
  const accept = (
    keyId: string,
    nowMs: number,
    metric = `homeward.${keyId}.system.load.1m`,
    value = "1",
    timestamp = Math.floor(nowMs / 1000),
  ) => board.observe({ nowMs, line: line(keyId, metric, value, timestamp), entry: { keyId } }, undefined);
  const reject = (
    keyId: string | undefined,
    reason: RejectReason,
    nowMs: number,
    known = keyId !== undefined && table.has(keyId),
  ) =>
    board.observe(
      {
        nowMs,
        ...(keyId !== undefined && { line: line(keyId, "x", "1", Math.floor(nowMs / 1000)) }),
        ...(known && keyId !== undefined && { entry: { keyId } }),
      },
      reason,
    );
  const row = (keyId: string, nowMs: number): DeviceStatus => {
    const found = board.snapshot(nowMs).find((candidate) => candidate.keyId === keyId);
    assert.ok(found, `no row for ${keyId}`);
    return found;
  };
  return { board, table, accept, reject, row };
}

describe("DeviceBoard", () => {
  test("every key in the auth file has a row, seen or not, active before disabled", () => {
    const { board } = boardWith({ "b-pi": false, "a-pi": false, retired: true });
    assert.deepEqual(
      board.snapshot(T0).map((row) => [row.keyId, row.state, row.lastSeenMs]),
      [
        ["a-pi", "active", undefined],
        ["b-pi", "active", undefined],
        ["retired", "disabled", undefined],
      ],
    );
  });

  test("lines per minute counts the last minute only, in 5-second buckets", () => {
    const { accept, row } = boardWith({ pi: false });
    for (let second = 0; second < 120; second++) accept("pi", T0 + second * 1000);
    const now = T0 + 119_000;
    const status = row("pi", now);
    assert.equal(status.accepted, 120);
    // The current bucket (partly filled) and the eleven full ones before it: 56..119 s minus a few.
    assert.ok(
      status.acceptedPerMinute >= 56 && status.acceptedPerMinute <= 60,
      String(status.acceptedPerMinute),
    );
    assert.equal(row("pi", now + 61_000).acceptedPerMinute, 0);
    assert.equal(row("pi", now + 61_000).accepted, 120);
    assert.equal(row("pi", now).lastSeenMs, now);
  });

  test("clock skew: server time minus the timestamp, over the last accepted lines only", () => {
    const { accept, reject, row } = boardWith({ pi: false });
    const nowSec = T0 / 1000;
    for (const behind of [1, 2, 3, 4, 100])
      accept("pi", T0, "homeward.pi.system.load.1m", "1", nowSec - behind);
    assert.deepEqual(row("pi", T0).skew, { median: 3, min: 1, max: 100, samples: 5 });
    // A line refused for its time (not verified) does not move the numbers.
    reject("pi", RejectReason.TimestampInFuture, T0);
    assert.equal(row("pi", T0).skew?.samples, 5);
    for (let i = 0; i < SKEW_SAMPLES; i++) accept("pi", T0, "homeward.pi.system.load.1m", "1", nowSec + 30);
    assert.deepEqual(row("pi", T0).skew, { median: -30, min: -30, max: -30, samples: SKEW_SAMPLES });
  });

  test("the buffer backlog comes from the agent's self.buffer metrics; the newest report wins", () => {
    const { accept, row } = boardWith({ pi: false });
    const nowSec = T0 / 1000;
    accept("pi", T0, "homeward.pi.self.buffer.depth", "1200", nowSec - 10);
    accept("pi", T0, "homeward.pi.self.buffer.oldest_age_s", "3600", nowSec - 10);
    accept("pi", T0, "homeward.pi.self.buffer.depth", "5000", nowSec - 600);
    assert.deepEqual(row("pi", T0).buffer, { depth: 1200, oldestAgeSeconds: 3600, timestamp: nowSec - 10 });
    accept("pi", T0, "custom.prefix.self.buffer.depth", "0", nowSec);
    assert.equal(row("pi", T0).buffer?.depth, 0);
  });

  test("a disabled key's lines, a removed key's lines and unknown keys' lines are counted as rejected", () => {
    const { table, accept, reject, row } = boardWith({ pi: false, retired: true });
    accept("pi", T0);
    reject("retired", RejectReason.KeyDisabled, T0);
    reject("retired", RejectReason.KeyDisabled, T0);
    reject("stranger", RejectReason.UnknownKey, T0);
    reject(undefined, RejectReason.FieldCount, T0);
    // Revoking by removal: the row stays, and its new lines count as unknown_key.
    table.delete("pi");
    reject("pi", RejectReason.UnknownKey, T0 + 1000);
    assert.deepEqual(
      [row("retired", T0).state, [...row("retired", T0).rejected], row("retired", T0).rejectedTotal],
      ["disabled", [[RejectReason.KeyDisabled, 2]], 2],
    );
    assert.deepEqual(
      [row("pi", T0).state, row("pi", T0).accepted, [...row("pi", T0).rejected]],
      ["not_in_auth_file", 1, [[RejectReason.UnknownKey, 1]]],
    );
    assert.deepEqual([row("stranger", T0).state, row("stranger", T0).rejectedTotal], ["not_in_auth_file", 1]);
    assert.deepEqual([row(UNIDENTIFIED, T0).state, row(UNIDENTIFIED, T0).rejectedTotal], ["unidentified", 1]);
  });

  test("made-up key ids take a bounded number of rows; the totals are kept", () => {
    const { board, reject, row } = boardWith({ pi: false }, 3);
    for (let i = 0; i < 1000; i++) reject(`fake-${i}`, RejectReason.UnknownKey, T0 + i);
    const rows = board.snapshot(T0 + 1000);
    assert.equal(rows.length, 1 + 3 + 1);
    assert.deepEqual(
      rows.filter((candidate) => candidate.keyId.startsWith("fake-")).map((candidate) => candidate.keyId),
      ["fake-997", "fake-998", "fake-999"],
    );
    assert.equal(row(OTHER_UNKNOWN, T0).rejectedTotal, 997);
  });
});

describe("status page rendering", () => {
  const summary: ServerSummary = {
    nowMs: T0,
    startedMs: T0 - 3_600_000,
    accepted: 10,
    rejected: new Map([[RejectReason.KeyDisabled, 2]]),
    carbonConnectionsUp: 2,
    carbonConnections: 2,
    queuedLines: 0,
    spoolLines: 0,
    authFileOk: true,
    authKeys: 2,
  };

  test("HTML escapes what it shows and has one row per device", () => {
    const { board, accept, reject } = boardWith({ "grandma-pi": false, retired: true });
    accept("grandma-pi", T0 - 5000);
    reject("retired", RejectReason.KeyDisabled, T0 - 1000);
    const html = statusHtml(summary, board.snapshot(T0));
    assert.match(html, /<tr data-key-id="grandma-pi" data-state="active">/);
    assert.match(html, /<tr data-key-id="retired" data-state="disabled">[^\n]*key_disabled <b>1<\/b>/);
    assert.match(html, /<meta http-equiv="refresh" content="10">/);
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });

  test("JSON has the same numbers, with ISO times", () => {
    const { board, accept } = boardWith({ "grandma-pi": false });
    accept("grandma-pi", T0 - 5000, "homeward.grandma-pi.self.buffer.depth", "7", T0 / 1000 - 8);
    const json = statusJson(summary, board.snapshot(T0));
    assert.deepEqual(json.devices[0], {
      key_id: "grandma-pi",
      state: "active",
      last_seen: new Date(T0 - 5000).toISOString(),
      last_seen_age_s: 5,
      last_accepted: new Date(T0 - 5000).toISOString(),
      lines_per_minute: 1,
      rejected_per_minute: 0,
      accepted: 1,
      rejected: {},
      rejected_total: 0,
      clock_skew_s: { median: 3, min: 3, max: 3, samples: 1 },
      buffer: { depth: 7, oldest_age_s: null, reported_at: new Date(T0 - 8000).toISOString() },
    });
    assert.equal(json.server.rejected && (json.server.rejected as Record<string, number>).key_disabled, 2);
  });

  test("spans read as people say them", () => {
    assert.deepEqual([5, 119, 120, 3599, 3600, 5400, 86_400, 90_000].map(formatSpan), [
      "5 s",
      "119 s",
      "2 min",
      "59 min",
      "1 h",
      "1 h 30 min",
      "1 d",
      "1 d 1 h",
    ]);
  });
});
