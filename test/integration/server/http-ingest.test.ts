import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { hmacSigner } from "../../../protocol/keys.ts";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { freePort } from "../../harness/free-port.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import {
  amproxySigner,
  grandmaSigner,
  nowSeconds,
  postLines,
  sample,
  signLine,
  startTestServer,
} from "./fixture.ts";
import type { TestServer } from "./fixture.ts";

const AUTH = `apikeys:
  my_public_key:
    secret_key: my_secret_key
    metrics: [metric1, metric2]
  grandma-pi:
    ed25519: 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=
    metrics: ["homeward.grandma-pi.**"]
  slow:
    secret_key: slow_secret
    metrics: [slow.metric]
    rate: 0.5
    burst: 2
`;

describe("HTTP ingest: POST /v1/lines", () => {
  let carbon: Carbon;
  let server: TestServer;
  before(async () => {
    carbon = await startCarbon();
    server = await startTestServer({
      carbonPort: carbon.linePort,
      authText: AUTH,
      flags: { "max-body-bytes": "4KiB", "max-inflated-bytes": "16KiB" },
    });
  });
  after(async () => {
    await server?.close();
    await carbon?.dispose();
  });

  test("200 with accepted and rejected-per-reason counts and the first errors by line number", async () => {
    const now = nowSeconds();
    const body = [
      signLine(amproxySigner(), "metric1", 1, now - 30, "my_public_key"),
      signLine(grandmaSigner(), "homeward.grandma-pi.temp", 21.5, now - 30, "grandma-pi"),
      signLine(amproxySigner(), "metric9", 1, now - 30, "my_public_key"),
      "not a line",
      signLine(amproxySigner(), "metric1", 2, now - 29, "my_public_key"),
    ].join("\n");
    const reply = await postLines(server.port("http"), `${body}\n`);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json, {
      accepted: 3,
      rejected: { acl_denied: 1, field_count: 1 },
      errors: [
        { line: 3, reason: "acl_denied" },
        { line: 4, reason: "field_count", detail: "expected 5 fields separated by single spaces, got 3" },
      ],
    });
    await carbon.waitForPoints("homeward.grandma-pi.temp", [[now - 30, 21.5]]);
    await carbon.waitForPoints("metric1", [
      [now - 30, 1],
      [now - 29, 2],
    ]);
  });

  test("a gzip body is accepted", async () => {
    const now = nowSeconds();
    const lines = Array.from({ length: 50 }, (_, index) =>
      signLine(amproxySigner(), "metric2", index, now - 100 + index, "my_public_key"),
    );
    const reply = await postLines(server.port("http"), gzipSync(`${lines.join("\n")}\n`), {
      "Content-Encoding": "gzip",
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.json.accepted, 50);
    await carbon.waitForPoints("metric2", 50, { from: now - 101 });
  });

  test("413 for a body over the limit, and for one that inflates past it", async () => {
    const big = await postLines(server.port("http"), "x".repeat(5000));
    assert.equal(big.status, 413);
    const bomb = gzipSync(Buffer.alloc(1024 * 1024, "a"));
    assert.ok(bomb.length < 4096, "the compressed body is under the body limit");
    const inflated = await postLines(server.port("http"), bomb, { "Content-Encoding": "gzip" });
    assert.equal(inflated.status, 413);
  });

  test("400 for a body that is not gzip though it says so", async () => {
    const reply = await postLines(server.port("http"), "plain text", { "Content-Encoding": "gzip" });
    assert.equal(reply.status, 400);
  });

  test("429 with Retry-After when the key's budget is spent; what fit is still accepted", async () => {
    const now = nowSeconds();
    const lines = [1, 2, 3].map((value) =>
      signLine(hmacSigner("slow_secret"), "slow.metric", value, now - 10 + value, "slow"),
    );
    const reply = await postLines(server.port("http"), lines.join("\n"));
    assert.equal(reply.status, 429);
    assert.equal(reply.json.accepted, 2);
    assert.deepEqual(reply.json.rejected, { rate_limited_key: 1 });
    const retryAfter = Number(reply.headers.get("retry-after"));
    assert.ok(retryAfter >= 1 && retryAfter <= 2, `Retry-After ${retryAfter}`);
  });

  test("the same counters show in /metrics", async () => {
    const metrics = await server.metrics();
    assert.equal(
      sample(metrics, "homeward_server_lines_rejected_total", { key: "slow", reason: "rate_limited_key" }),
      1,
    );
    assert.equal(
      sample(metrics, "homeward_server_lines_rejected_total", { key: "my_public_key", reason: "acl_denied" }),
      1,
    );
  });

  test("404 elsewhere, 405 for GET", async () => {
    const base = `http://127.0.0.1:${server.port("http")}`;
    assert.equal((await fetch(`${base}/elsewhere`, { method: "POST", body: "" })).status, 404);
    assert.equal((await fetch(`${base}/v1/lines`)).status, 405);
  });
});

describe("HTTP ingest when the forwarder cannot take more", () => {
  let server: TestServer;
  before(async () => {
    // Nothing listens on this port: every line goes to a spool that is full after the first few.
    server = await startTestServer({
      carbonPort: await freePort(),
      flags: { "state-dir": makeTempDir("server-full"), "spool-max-bytes": "4KiB" },
    });
  });
  after(async () => {
    await server?.close();
  });

  test("503 with Retry-After, and the lines are counted as forward_overflow", async () => {
    const now = nowSeconds();
    const first = await postLines(
      server.port("http"),
      Array.from({ length: 200 }, (_, value) =>
        signLine(amproxySigner(), "metric1", value, now - value, "my_public_key"),
      ).join("\n"),
    );
    assert.equal(first.status, 200, "the spool had room");
    const second = await postLines(
      server.port("http"),
      signLine(amproxySigner(), "metric1", 999, now - 999, "my_public_key"),
    );
    assert.equal(second.status, 503);
    assert.deepEqual(second.json.rejected, { forward_overflow: 1 });
    assert.ok(Number(second.headers.get("retry-after")) >= 1);
    const metrics = await server.metrics();
    assert.equal(sample(metrics, "homeward_server_lines_rejected_total", { reason: "forward_overflow" }), 1);
    const health = await fetch(`http://127.0.0.1:${server.server.metricsAddress?.port}/healthz`);
    assert.equal(health.status, 503);
  });
});
