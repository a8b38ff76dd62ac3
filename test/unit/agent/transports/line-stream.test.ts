import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { makeTempDir, removeTempDir } from "../../../harness/cleanup.ts";
import { pollUntil } from "../../../harness/poll.ts";
import { createTransport } from "../../../../agent/transports/index.ts";
import { testLines } from "./lines.ts";
import { startLineServer } from "./line-server.ts";
import { makeSelfSignedCert } from "./self-signed-cert.ts";
import type { SelfSignedCert } from "./self-signed-cert.ts";

let dir: string;
let cert: SelfSignedCert;

before(() => {
  dir = makeTempDir("line-transport");
  cert = makeSelfSignedCert(dir);
});
after(() => removeTempDir(dir));

describe("tcp transport", () => {
  test("writes the exact lines, newline-terminated, over one connection", async (t) => {
    const server = await startLineServer();
    const transport = createTransport({ url: `tcp://127.0.0.1:${server.port}` });
    t.after(async () => {
      await transport.close();
      await server.close();
    });
    const first = testLines(3);
    const second = testLines(2, 3);
    assert.deepEqual(await transport.send(first), { kind: "delivered", accepted: 3, rejected: {} });
    assert.deepEqual(await transport.send(second), { kind: "delivered", accepted: 2, rejected: {} });
    const expected = [...first, ...second].map((line) => `${line}\n`).join("");
    await pollUntil(() => (server.text().length >= expected.length ? true : undefined), {
      what: "the lines",
    });
    assert.equal(server.text(), expected);
    assert.equal(server.connections(), 1);
  });

  test("lines the server would refuse for their form are not sent, and counted by reason", async (t) => {
    const server = await startLineServer();
    const transport = createTransport({ url: `tcp://127.0.0.1:${server.port}`, maxLineBytes: 200 });
    t.after(async () => {
      await transport.close();
      await server.close();
    });
    const [good] = testLines(1);
    const tooLong = testLines(1, 0, `homeward.${"x".repeat(200)}`)[0] ?? "";
    const outcome = await transport.send([good ?? "", tooLong, "two fields", `${good}\nsmuggled 1 2`]);
    assert.deepEqual(outcome, {
      kind: "delivered",
      accepted: 1,
      rejected: { line_too_long: 1, field_count: 1, control_byte: 1 },
    });
    await pollUntil(() => (server.text().length > 0 ? true : undefined), { what: "the good line" });
    assert.equal(server.text(), `${good}\n`);
  });

  test("a server that is down is a retry; once it is back the transport reconnects", async (t) => {
    const server = await startLineServer();
    const port = server.port;
    await server.close();
    const transport = createTransport({ url: `tcp://127.0.0.1:${port}` });
    t.after(() => transport.close());
    const down = await transport.send(testLines(1));
    assert.equal(down.kind, "retry");
    assert.match(down.kind === "retry" ? down.why : "", /connection refused/);

    const back = await startLineServer(undefined, port);
    t.after(() => back.close());
    const lines = testLines(2, 10);
    assert.equal((await transport.send(lines)).kind, "delivered");
    await pollUntil(() => (back.text().length > 0 ? true : undefined), {
      what: "the lines after reconnecting",
    });
    await pollUntil(() => (back.text() === lines.map((line) => `${line}\n`).join("") ? true : undefined), {
      what: "both lines",
      describe: () => back.text(),
    });
  });

  test("a connection the server dropped is not written to again: the next batch goes on a new one", async (t) => {
    const server = await startLineServer();
    const transport = createTransport({ url: `tcp://127.0.0.1:${server.port}` });
    t.after(async () => {
      await transport.close();
      await server.close();
    });
    const first = testLines(1);
    assert.equal((await transport.send(first)).kind, "delivered");
    await pollUntil(() => (server.text().length > 0 ? true : undefined), { what: "the first line" });
    server.dropConnections();
    // Until the client has seen the drop, a batch may still go into the dead socket and be lost:
    // that is the protocol's known loss (see agent/transports/README.md). Keep sending until one
    // lands on a second connection.
    const later = testLines(1, 1);
    await pollUntil(
      async () => {
        await transport.send(later);
        return server.connections() >= 2 && (server.received[1] ?? "").length > 0 ? true : undefined;
      },
      { what: "a batch on a new connection" },
    );
    assert.equal(server.received[1]?.split("\n")[0], later[0]);
  });
});

describe("tls transport", () => {
  test("sends the lines to a server whose certificate the CA file vouches for", async (t) => {
    const server = await startLineServer({ cert: cert.cert, key: cert.key });
    const transport = createTransport({
      url: `tls://127.0.0.1:${server.port}`,
      caFile: cert.certFile,
      pinSha256: cert.pinSha256,
    });
    t.after(async () => {
      await transport.close();
      await server.close();
    });
    const lines = testLines(4);
    assert.equal((await transport.send(lines)).kind, "delivered");
    const expected = lines.map((line) => `${line}\n`).join("");
    await pollUntil(() => (server.text() === expected ? true : undefined), {
      what: "the lines over TLS",
      describe: () => server.text(),
    });
  });

  test("an untrusted certificate or a wrong pin is fatal and nothing is sent", async (t) => {
    const server = await startLineServer({ cert: cert.cert, key: cert.key });
    const untrusted = createTransport({ url: `tls://127.0.0.1:${server.port}` });
    const wrongPin = createTransport({
      url: `tls://127.0.0.1:${server.port}`,
      caFile: cert.certFile,
      pinSha256: Buffer.alloc(32, 1).toString("base64"),
    });
    t.after(async () => {
      await untrusted.close();
      await wrongPin.close();
      await server.close();
    });
    const first = await untrusted.send(testLines(1));
    assert.equal(first.kind, "fatal");
    assert.match(first.kind === "fatal" ? first.why : "", /not trusted/);
    const second = await wrongPin.send(testLines(1));
    assert.equal(second.kind, "fatal");
    assert.match(second.kind === "fatal" ? second.why : "", /not the pinned one/);
    assert.equal(server.text(), "");
  });
});
