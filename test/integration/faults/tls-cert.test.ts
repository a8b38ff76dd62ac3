import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect } from "node:tls";
import type { PeerCertificate } from "node:tls";
import { promisify } from "node:util";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { createTestPki } from "../../harness/certs.ts";
import type { TestPki } from "../../harness/certs.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { LOOPBACK } from "../../harness/free-port.ts";
import { pollUntil } from "../../harness/poll.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { registerSecret } from "../../harness/test-logs.ts";
import { faultLines, makeFaultKey, startFaultServer } from "./support.ts";
import type { FaultKey, FaultServer } from "./support.ts";

const execFileAsync = promisify(execFile);

/** The test PKI's server certificate re-issued with a validity that ended a day before it began. */
async function issueExpired(pki: TestPki): Promise<string> {
  const certFile = join(pki.dir, "server-expired.crt");
  await execFileAsync(
    "openssl",
    [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "-1",
    ].concat(["-extfile", "server.ext", "-out", certFile]),
    { cwd: pki.dir },
  );
  return certFile;
}

/** Connects over TLS, sends `lines`, and returns the certificate the server presented. */
function sendOverTls(
  port: number,
  ca: string,
  lines: readonly string[],
  verify = true,
): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: LOOPBACK, port, servername: "localhost", ca, rejectUnauthorized: verify },
      () => {
        const peer = socket.getPeerCertificate();
        socket.end(lines.map((line) => `${line}\n`).join(""), () => resolve(peer));
      },
    );
    socket.once("error", reject);
  });
}

/** Replaces a file by rename, as certbot and config management do. */
function replace(target: string, source: string): void {
  copyFileSync(source, `${target}.new`);
  renameSync(`${target}.new`, target);
}

describe("fault: the server's TLS certificate replaced, broken or expired", () => {
  let carbon: Carbon;
  let server: FaultServer;
  let first: TestPki;
  let second: TestPki;
  let certDir: string;
  let key: FaultKey;
  const ca = (): string => `${first.ca}${second.ca}`;
  before(async () => {
    carbon = await startCarbon();
    first = await createTestPki();
    second = await createTestPki();
    for (const pki of [first, second]) registerSecret("test PKI server key", pki.server.key);
    certDir = makeTempDir("fault-tls");
    copyFileSync(first.server.certFile, join(certDir, "server.crt"));
    copyFileSync(first.server.keyFile, join(certDir, "server.key"));
    key = makeFaultKey();
    server = await startFaultServer({
      carbonAddr: `127.0.0.1:${carbon.linePort}`,
      authText: key.authText,
      flags: {
        listen: [`tls://${LOOPBACK}:0`],
        "tls-cert": join(certDir, "server.crt"),
        "tls-key": join(certDir, "server.key"),
      },
      name: "fault-tls",
    });
  });
  after(async () => {
    await server?.close();
    await carbon?.dispose();
    await first?.dispose();
    await second?.dispose();
  });

  // Without verification: only which certificate is presented matters here.
  const fingerprint = async (): Promise<string> =>
    (await sendOverTls(server.port("tls"), ca(), [], false)).fingerprint256;
  const waitForFingerprint = (expected: string): Promise<string> =>
    pollUntil(async () => ((await fingerprint()) === expected ? expected : undefined), {
      what: "the server to present the new certificate",
      timeoutMs: 15_000,
    });
  const fingerprintOf = (pem: string): string => new X509Certificate(pem).fingerprint256;

  test("a renewed certificate is served without a restart, and its reload is logged once", async () => {
    assert.equal(await fingerprint(), fingerprintOf(first.server.cert));
    replace(join(certDir, "server.key"), second.server.keyFile);
    replace(join(certDir, "server.crt"), second.server.certFile);
    await waitForFingerprint(fingerprintOf(second.server.cert));
    for (let index = 0; index < 20; index++) await fingerprint();
    assert.equal(
      server.logsMatching(/TLS certificate reloaded/).length,
      1,
      "once per change, not per connection",
    );
    assert.equal(server.logsMatching(/TLS certificate (has expired|is not valid)/).length, 0);
  });

  test("a broken pair (a half-done renewal: key and certificate do not match) keeps the last good one in force, and says so", async () => {
    const before = await fingerprint();
    replace(join(certDir, "server.crt"), first.server.certFile);
    await pollUntil(
      async () => ((await server.sample("homeward_server_tls_reload_errors_total")) >= 1 ? true : undefined),
      {
        what: "the reload error",
      },
    );
    assert.equal(await fingerprint(), before, "the old certificate is still served");
    const errors = server.logsMatching(/TLS certificate not reloaded/);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.level, "error");
    assert.ok(!JSON.stringify(errors).includes("PRIVATE KEY"), "the error shows no key material");
    // Lines over TLS still go through.
    const start = nowSeconds() - 100;
    await sendOverTls(server.port("tls"), ca(), faultLines(key, "fault.tls.value", 3, start));
    await carbon.waitForPoints("fault.tls.value", 3, { from: start - 1 });
    replace(join(certDir, "server.crt"), second.server.certFile);
  });

  test("an expired certificate is served (a pinning client still connects), and the server warns about it; a fresh one ends the warnings", async () => {
    const expired = await issueExpired(second);
    replace(join(certDir, "server.crt"), expired);
    const expiredFingerprint = fingerprintOf(readFileSync(expired, "utf8"));
    await pollUntil(
      async () =>
        (await sendOverTls(server.port("tls"), ca(), [], false)).fingerprint256 === expiredFingerprint
          ? true
          : undefined,
      { what: "the expired certificate to be served", timeoutMs: 15_000 },
    );
    await assert.rejects(
      sendOverTls(server.port("tls"), ca(), []),
      /expired/i,
      "a checking client refuses it",
    );
    const warnings = server.logsMatching(/TLS certificate has expired/);
    assert.equal(warnings.length, 1, "said once (and again once a minute while it stays expired)");
    assert.equal(warnings[0]?.level, "warn");

    replace(join(certDir, "server.crt"), second.server.certFile);
    await waitForFingerprint(fingerprintOf(second.server.cert));
    assert.equal(server.logsMatching(/TLS certificate has expired/).length, 1);
  });
});
