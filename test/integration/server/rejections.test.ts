import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { RejectReason } from "../../../protocol/reasons.ts";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import {
  amproxySigner,
  closedByPeer,
  nowSeconds,
  openConnection,
  sample,
  signLine,
  startTestServer,
  tamper,
  writeLines,
} from "./fixture.ts";
import type { TestServer } from "./fixture.ts";
import { hmacSigner } from "../../../protocol/keys.ts";
import { pollUntil } from "../../harness/poll.ts";

const AUTH = `apikeys:
  my_public_key:
    secret_key: my_secret_key
    metrics: [metric1, metric2]
  retired:
    secret_key: retired_secret
    metrics: [metric1]
    disabled: true
  slow:
    secret_key: slow_secret
    metrics: [slow.metric]
    rate: 0.001
    burst: 1
`;

const DAY = 86_400;

describe("every rejection reason is counted and nothing rejected reaches Carbon", () => {
  let carbon: Carbon;
  let server: TestServer;
  before(async () => {
    carbon = await startCarbon();
    server = await startTestServer({ carbonPort: carbon.linePort, authText: AUTH });
  });
  after(async () => {
    await server?.close();
    await carbon?.dispose();
  });

  test("bad lines on one connection are each counted under their reason; the connection survives", async () => {
    const now = nowSeconds();
    const amproxy = amproxySigner();
    const good = signLine(amproxy, "metric1", 10, now - 20, "my_public_key");
    const bad: [RejectReason, string][] = [
      [RejectReason.FieldCount, `metric1 1 ${now} my_public_key`],
      [RejectReason.EmptyField, `metric1  1 ${now} my_public_key AAAA`],
      [RejectReason.BadSeparator, `metric1\t1 ${now} my_public_key AAAA`],
      [RejectReason.ControlByte, `metric1 1\x01 ${now} my_public_key AAAA`],
      [RejectReason.BadMetric, `metric1..x 1 ${now} my_public_key AAAA`],
      [RejectReason.BadValue, `metric1 NaN ${now} my_public_key AAAA`],
      [RejectReason.BadTimestamp, `metric1 1 0${now} my_public_key AAAA`],
      [RejectReason.BadKeyId, `metric1 1 ${now} my/key AAAA`],
      [RejectReason.BadSignatureEncoding, `metric1 1 ${now} my_public_key A*A=`],
      [RejectReason.BadSignatureLength, `metric1 1 ${now} my_public_key AAAA`],
      [RejectReason.UnknownKey, signLine(hmacSigner("x"), "metric1", 1, now, "stranger")],
      [RejectReason.KeyDisabled, signLine(hmacSigner("retired_secret"), "metric1", 2, now, "retired")],
      [RejectReason.AclDenied, signLine(amproxy, "metric3", 3, now, "my_public_key")],
      [RejectReason.TimestampInFuture, signLine(amproxy, "metric1", 4, now + DAY, "my_public_key")],
      [RejectReason.TimestampTooOld, signLine(amproxy, "metric1", 5, now - 8 * DAY, "my_public_key")],
      [RejectReason.BadSignature, tamper(signLine(amproxy, "metric1", 6, now - 1, "my_public_key"))],
      [RejectReason.Duplicate, good],
      [RejectReason.RateLimitedKey, signLine(hmacSigner("slow_secret"), "slow.metric", 8, now - 2, "slow")],
    ];
    const socket = await openConnection(server.port("tcp"));
    await writeLines(socket, [good, signLine(hmacSigner("slow_secret"), "slow.metric", 7, now - 3, "slow")]);
    await writeLines(
      socket,
      bad.map(([, line]) => line),
    );
    const last = signLine(amproxy, "metric2", 11, now - 20, "my_public_key");
    await writeLines(socket, [last]);
    await carbon.waitForPoints("metric2", [[now - 20, 11]]);
    assert.equal(socket.destroyed, false, "the connection is still open after the bad lines");

    const metrics = await server.metrics();
    for (const [reason] of bad) {
      assert.equal(
        sample(metrics, "homeward_server_lines_rejected_total", { reason }),
        1,
        `counter for ${reason}`,
      );
    }
    assert.equal(sample(metrics, "homeward_server_lines_accepted_total", { key: "my_public_key" }), 2);
    assert.equal(
      sample(metrics, "homeward_server_lines_rejected_total", { key: "-", reason: "unknown_key" }),
      1,
    );
    assert.equal(
      sample(metrics, "homeward_server_lines_rejected_total", { key: "retired", reason: "key_disabled" }),
      1,
    );

    await carbon.flush();
    assert.deepEqual(await carbon.listMetrics(), ["metric1", "metric2", "slow.metric"]);
    assert.deepEqual(await carbon.fetchPoints("metric1", { from: now - 9 * DAY, until: now }), [
      [now - 20, 10],
    ]);
    assert.deepEqual(await carbon.fetchPoints("slow.metric", { from: now - DAY, until: now }), [
      [now - 3, 7],
    ]);
    socket.destroy();
  });

  test("an over-long line closes the connection and is counted", async () => {
    const socket = await openConnection(server.port("tcp"));
    const before = sample(await server.metrics(), "homeward_server_lines_rejected_total", {
      reason: "line_too_long",
    });
    const closed = closedByPeer(socket);
    await writeLines(socket, [`metric1 ${"9".repeat(2000)} 1 my_public_key AAAA`]);
    await closed;
    const after = sample(await server.metrics(), "homeward_server_lines_rejected_total", {
      reason: "line_too_long",
    });
    assert.equal(after, before + 1);
  });

  test("an over-long line closes the connection even before its newline arrives", async () => {
    const socket = await openConnection(server.port("tcp"));
    const closed = closedByPeer(socket);
    socket.write("x".repeat(1500));
    await closed;
  });

  test("rejections are logged with key, source and a truncated line, never the secret", async () => {
    const logs = server.logs.text();
    assert.match(logs, /reason=bad_signature source=127\.0\.0\.1 key=my_public_key line=/);
    assert.doesNotMatch(logs, /my_secret_key|retired_secret|slow_secret/);
  });
});

describe("the per-source rate limit", () => {
  let carbon: Carbon;
  let server: TestServer;
  before(async () => {
    carbon = await startCarbon();
    server = await startTestServer({
      carbonPort: carbon.linePort,
      authText: AUTH,
      flags: { "source-rate": "0.001", "source-burst": "2" },
    });
  });
  after(async () => {
    await server?.close();
    await carbon?.dispose();
  });

  test("a source past its bucket is refused as rate_limited_source; another source is not", async () => {
    const now = nowSeconds();
    const amproxy = amproxySigner();
    const socket = await openConnection(server.port("tcp"));
    await writeLines(
      socket,
      [1, 2, 3].map((value) => signLine(amproxy, "metric1", value, now - value, "my_public_key")),
    );
    const other = await openConnection(server.port("tcp"), "127.0.0.2");
    await writeLines(other, [signLine(amproxy, "metric2", 4, now - 4, "my_public_key")]);
    await pollUntil(
      async () =>
        sample(await server.metrics(), "homeward_server_lines_rejected_total", {
          reason: "rate_limited_source",
        }) === 1
          ? true
          : undefined,
      { what: "one rate_limited_source rejection" },
    );
    await carbon.waitForPoints("metric2", [[now - 4, 4]]);
    await carbon.waitForPoints("metric1", 2);
    assert.equal(
      sample(await server.metrics(), "homeward_server_lines_accepted_total", { key: "my_public_key" }),
      3,
    );
    socket.destroy();
    other.destroy();
  });
});
