import assert from "node:assert/strict";
import { copyFileSync, renameSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect } from "node:tls";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { createTestPki } from "../../harness/certs.ts";
import type { TestPki } from "../../harness/certs.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { pollUntil } from "../../harness/poll.ts";
import { amproxySigner, LOOPBACK, nowSeconds, signLine, startTestServer } from "./fixture.ts";
import type { TestServer } from "./fixture.ts";

interface ClientOptions {
  ca: string;
  cert?: string;
  key?: string;
}

function tlsConnect(port: number, options: ClientOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: LOOPBACK, port, servername: "localhost", ...options }, () =>
      resolve(socket),
    );
    socket.once("error", reject);
  });
}

async function sendOverTls(
  port: number,
  options: ClientOptions,
  lines: readonly string[],
): Promise<PeerCertificate> {
  const socket = await tlsConnect(port, options);
  const peer = socket.getPeerCertificate();
  await new Promise<void>((resolve) =>
    socket.end(lines.map((line) => `${line}\n`).join(""), () => resolve()),
  );
  return peer;
}

function postHttps(
  port: number,
  options: ClientOptions,
  body: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: LOOPBACK, port, path: "/v1/lines", method: "POST", servername: "localhost", ...options },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    req.once("error", reject);
    req.end(body);
  });
}

describe("TLS and HTTPS listeners with client certificates, and certificate reload", () => {
  let carbon: Carbon;
  let server: TestServer;
  let pki: TestPki;
  let renewed: TestPki;
  let certDir: string;
  before(async () => {
    carbon = await startCarbon();
    pki = await createTestPki({ clientNames: ["grandma-pi"] });
    renewed = await createTestPki();
    certDir = makeTempDir("server-certs");
    copyFileSync(pki.server.certFile, join(certDir, "server.crt"));
    copyFileSync(pki.server.keyFile, join(certDir, "server.key"));
    server = await startTestServer({
      carbonPort: carbon.linePort,
      flags: {
        listen: [`tls://${LOOPBACK}:0`, `https://${LOOPBACK}:0`],
        "tls-cert": join(certDir, "server.crt"),
        "tls-key": join(certDir, "server.key"),
        "tls-client-ca": pki.caFile,
      },
    });
  });
  after(async () => {
    await server?.close();
    await carbon?.dispose();
    await pki?.dispose();
    await renewed?.dispose();
  });

  test("a client with a certificate from the CA sends lines over TLS and over HTTPS", async () => {
    const now = nowSeconds();
    const client = {
      ca: pki.ca,
      cert: pki.clients["grandma-pi"]?.cert as string,
      key: pki.clients["grandma-pi"]?.key as string,
    };
    await sendOverTls(server.port("tls"), client, [
      signLine(amproxySigner(), "metric1", 3, now - 40, "my_public_key"),
    ]);
    const reply = await postHttps(
      server.port("https"),
      client,
      signLine(amproxySigner(), "metric1", 4, now - 39, "my_public_key"),
    );
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.body), { accepted: 1, rejected: {}, errors: [] });
    await carbon.waitForPoints("metric1", [
      [now - 40, 3],
      [now - 39, 4],
    ]);
  });

  test("a client without a certificate is refused at the handshake", async () => {
    await assert.rejects(async () => {
      const socket = await tlsConnect(server.port("tls"), { ca: pki.ca });
      // TLS 1.3 reports the missing certificate after the handshake, on the first read.
      await new Promise((resolve, reject) => {
        socket.once("error", reject);
        socket.once("close", resolve);
        socket.write("x\n");
      });
      throw new Error("closed without an error");
    });
  });

  test("a renewed certificate replacing the old files is served without a restart", async () => {
    const client = {
      ca: `${pki.ca}${renewed.ca}`,
      cert: pki.clients["grandma-pi"]?.cert as string,
      key: pki.clients["grandma-pi"]?.key as string,
    };
    const before = await sendOverTls(server.port("tls"), client, []);
    copyFileSync(renewed.server.keyFile, join(certDir, "server.key.new"));
    copyFileSync(renewed.server.certFile, join(certDir, "server.crt.new"));
    renameSync(join(certDir, "server.key.new"), join(certDir, "server.key"));
    renameSync(join(certDir, "server.crt.new"), join(certDir, "server.crt"));
    const after = await pollUntil(
      async () => {
        const peer = await sendOverTls(server.port("tls"), client, []);
        return peer.fingerprint256 !== before.fingerprint256 ? peer : undefined;
      },
      { what: "the renewed certificate", timeoutMs: 5000 },
    );
    assert.equal(after.issuer.CN, "homeward test CA");
    assert.notEqual(after.fingerprint256, before.fingerprint256);
  });
});
