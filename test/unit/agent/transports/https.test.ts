import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { makeTempDir, removeTempDir } from "../../../harness/cleanup.ts";
import { freePort } from "../../../harness/free-port.ts";
import { HttpsTransport } from "../../../../agent/transports/https.ts";
import { createTransport } from "../../../../agent/transports/index.ts";
import { spkiSha256 } from "../../../../agent/transports/server-identity.ts";
import type { SendOutcome, Transport } from "../../../../agent/transports/transport.ts";
import { acceptAll, startIngestTestServer } from "./ingest-test-server.ts";
import type { IngestTestServer, ReplyScript } from "./ingest-test-server.ts";
import { testLines } from "./lines.ts";
import { makeSelfSignedCert } from "./self-signed-cert.ts";
import type { SelfSignedCert } from "./self-signed-cert.ts";

let dir: string;
let cert: SelfSignedCert;
let otherCert: SelfSignedCert;

before(() => {
  dir = makeTempDir("https-transport");
  cert = makeSelfSignedCert(dir, "server");
  otherCert = makeSelfSignedCert(dir, "other");
});
after(() => removeTempDir(dir));

/** Starts a scripted HTTPS server and a transport trusting its certificate; both closed after. */
async function withServer(
  t: { after(fn: () => Promise<void>): unknown },
  script: ReplyScript,
  options: { pinSha256?: string | string[]; caFile?: string | null; timeoutMs?: number; path?: string } = {},
): Promise<{ server: IngestTestServer; transport: Transport }> {
  const server = await startIngestTestServer(script, { cert: cert.cert, key: cert.key });
  const caFile = options.caFile === null ? undefined : (options.caFile ?? cert.certFile);
  const transport = createTransport({
    url: `${server.url}${options.path ?? ""}`,
    ...(caFile === undefined ? {} : { caFile }),
    ...(options.pinSha256 === undefined ? {} : { pinSha256: options.pinSha256 }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
  t.after(async () => {
    await transport.close();
    await server.close();
  });
  return { server, transport };
}

describe("https transport", () => {
  test("POSTs the lines gzipped to <url>/v1/lines and reads the reply; permanent rejections are counted", async (t) => {
    const lines = testLines(3);
    const { server, transport } = await withServer(
      t,
      () => ({
        status: 200,
        body: {
          accepted: 2,
          rejected: { bad_signature: 1 },
          errors: [{ line: 3, reason: "bad_signature", detail: "signature does not verify" }],
        },
      }),
      { path: "/homeward/" },
    );
    const outcome = await transport.send(lines);
    assert.deepEqual(outcome, {
      kind: "delivered",
      accepted: 2,
      rejected: { bad_signature: 1 },
      samples: [{ line: 3, reason: "bad_signature", detail: "signature does not verify" }],
    });
    const [request] = server.requests;
    assert.ok(request);
    assert.equal(request.method, "POST");
    assert.equal(request.path, "/homeward/v1/lines");
    assert.equal(request.headers["content-encoding"], "gzip");
    assert.equal(request.body, `${lines.join("\n")}\n`);
  });

  test("keeps one connection alive across batches", async (t) => {
    const { server, transport } = await withServer(t, acceptAll);
    for (let batch = 0; batch < 3; batch++) {
      assert.equal((await transport.send(testLines(5, batch * 5))).kind, "delivered");
    }
    assert.equal(server.requests.length, 3);
    assert.equal(server.connections(), 1);
    assert.deepEqual(
      server.requests.map((request) => request.connection),
      [1, 1, 1],
    );
  });

  test("429 with Retry-After in seconds is a throttled retry after that long", async (t) => {
    const { transport } = await withServer(t, () => ({
      status: 429,
      headers: { "retry-after": "7" },
      body: { accepted: 0, rejected: { rate_limited_key: 2 }, errors: [] },
    }));
    const outcome = await transport.send(testLines(2));
    assert.equal(outcome.kind, "retry");
    assert.equal(outcome.kind === "retry" && outcome.afterMs, 7000);
    assert.equal(outcome.kind === "retry" && outcome.throttled, true);
  });

  test("Retry-After as an HTTP date is measured from the transport's clock", async (t) => {
    const server = await startIngestTestServer(
      () => ({ status: 503, headers: { "retry-after": "Sun, 06 Nov 1994 08:49:37 GMT" } }),
      { cert: cert.cert, key: cert.key },
    );
    const transport = new HttpsTransport({
      url: server.url,
      caFile: cert.certFile,
      now: () => Date.parse("Sun, 06 Nov 1994 08:48:07 GMT"),
    });
    t.after(async () => {
      await transport.close();
      await server.close();
    });
    const outcome = await transport.send(testLines(1));
    assert.deepEqual(outcome, { kind: "retry", afterMs: 90_000, why: "the server is busy (HTTP 503)" });
  });

  test("503 then 200: a retry, then the same lines delivered", async (t) => {
    let calls = 0;
    const { server, transport } = await withServer(t, (lines) =>
      ++calls === 1 ? { status: 503, headers: { "retry-after": "1" } } : acceptAll(lines),
    );
    const lines = testLines(4);
    const first = await transport.send(lines);
    assert.equal(first.kind, "retry");
    const second = await transport.send(lines);
    assert.deepEqual(second, { kind: "delivered", accepted: 4, rejected: {}, samples: [] });
    assert.equal(server.requests.length, 2);
    assert.equal(server.requests[1]?.body, `${lines.join("\n")}\n`);
  });

  test("connection refused is a retry that says so", async () => {
    const port = await freePort();
    const transport = createTransport({ url: `https://127.0.0.1:${port}`, caFile: cert.certFile });
    const outcome = await transport.send(testLines(1));
    await transport.close();
    assert.equal(outcome.kind, "retry");
    assert.match(
      outcome.kind === "retry" ? outcome.why : "",
      /could not reach 127\.0\.0\.1 \(connection refused, ECONNREFUSED\)/,
    );
  });

  test("a server that does not answer in time is a retry", async (t) => {
    const { transport } = await withServer(t, () => ({ status: 200, hang: true }), { timeoutMs: 200 });
    const outcome = await transport.send(testLines(1));
    assert.equal(outcome.kind, "retry");
    assert.match(outcome.kind === "retry" ? outcome.why : "", /no answer/);
  });

  test("the right pin is accepted; openssl and the transport agree on its value", async (t) => {
    assert.equal(
      spkiSha256(new (await import("node:crypto")).X509Certificate(cert.cert).raw),
      cert.pinSha256,
    );
    const { transport } = await withServer(t, acceptAll, {
      pinSha256: [otherCert.pinSha256, cert.pinSha256],
    });
    assert.equal((await transport.send(testLines(2))).kind, "delivered");
  });

  test("a wrong pin is refused before any line is sent, as a fatal outcome", async (t) => {
    const { server, transport } = await withServer(t, acceptAll, { pinSha256: otherCert.pinSha256 });
    const outcome = await transport.send(testLines(2));
    assert.equal(outcome.kind, "fatal");
    assert.match(outcome.kind === "fatal" ? outcome.why : "", /not the pinned one/);
    assert.equal(server.requests.length, 0);
  });

  test("without the CA file the self-signed server is not trusted", async (t) => {
    const { server, transport } = await withServer(t, acceptAll, { caFile: null });
    const outcome = await transport.send(testLines(1));
    assert.equal(outcome.kind, "fatal");
    assert.match(outcome.kind === "fatal" ? outcome.why : "", /not trusted/);
    assert.equal(server.requests.length, 0);
  });

  test("a 200 that is not an ingest reply (a captive portal) is never taken as delivered", async (t) => {
    const { transport } = await withServer(t, () => ({
      status: 200,
      body: "<html>Welcome to Hotel Wi-Fi</html>",
    }));
    const outcome: SendOutcome = await transport.send(testLines(3));
    assert.equal(outcome.kind, "retry");
  });

  test("413 asks for smaller batches; 401 and 404 are fatal", async (t) => {
    const replies = [413, 401, 404];
    const { transport } = await withServer(t, () => ({
      status: replies.shift() ?? 500,
      body: { error: "no" },
    }));
    assert.equal((await transport.send(testLines(10))).kind, "too_large");
    const unauthorized = await transport.send(testLines(1));
    assert.equal(unauthorized.kind, "fatal");
    assert.match(unauthorized.kind === "fatal" ? unauthorized.why : "", /HTTP 401/);
    const notFound = await transport.send(testLines(1));
    assert.match(notFound.kind === "fatal" ? notFound.why : "", /check the server URL/);
  });

  test("options are checked when the transport is made", () => {
    assert.throws(() => createTransport({ url: "ftp://example.org" }), /must start with https:\/\//);
    assert.throws(() => createTransport({ url: "https://example.org", pinSha256: "abc" }), /pin_sha256/);
    assert.throws(
      () => createTransport({ url: "https://example.org", caFile: `${dir}/missing.pem` }),
      /cannot read ca_file/,
    );
    assert.throws(() => createTransport({ url: "tcp://example.org" }), /needs a port/);
  });
});
