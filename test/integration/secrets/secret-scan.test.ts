import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { generateHmacSecret } from "../../../protocol/keys.ts";
import { createTestPki } from "../../harness/certs.ts";
import type { TestPki } from "../../harness/certs.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { LOOPBACK } from "../../harness/free-port.ts";
import { pollUntil } from "../../harness/poll.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { runHomeward } from "../../support/cli.ts";
import { loadEd25519Vectors, loadHmacVectors, REPO_ROOT, SHARED_DIR } from "../../support/vectors.ts";
import { postLines, startFaultServer } from "../faults/support.ts";
import type { FaultServer } from "../faults/support.ts";
import { sendLines } from "../server/fixture.ts";
import {
  collectedLogs,
  needlesOf,
  persistLog,
  registeredSecrets,
  registerSecret,
  TEST_LOG_DIR_ENV,
} from "../../harness/test-logs.ts";
import type { RegisteredSecret } from "../../harness/test-logs.ts";

// The secret scan. It looks for every secret the tests use, in every form it could be written
// (text, base64, hex, an Ed25519 seed alone) and for any PEM private key, in:
//   - every log of this test run, when scripts/run-tests.ts gave the run a directory
//     (HOMEWARD_TEST_LOG_DIR) and runs this file after all the others;
//   - the logs of what it does itself: a server holding every shared test vector's key, fed good,
//     forged and malformed lines, an auth file broken by typos around a secret, TLS files replaced
//     by a mismatched key and an expired certificate, and a server that refuses to start.
// The secrets: the shared vectors (../shared/vectors), amproxy's examples in DESIGN.md, the
// `secret_key:` values written in the tests' sources, and every secret a test registered
// (registerSecret in test-logs.ts: keys and secrets made at run time).

/** PEM private keys of any kind (PKCS#8, EC, RSA, OpenSSH). */
const PEM_PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

function knownSecrets(): RegisteredSecret[] {
  const secrets: RegisteredSecret[] = [];
  for (const vector of loadHmacVectors())
    secrets.push({ label: `hmac vector ${vector.key_id}`, text: vector.secret_key });
  for (const vector of loadEd25519Vectors().vectors) {
    secrets.push({ label: `ed25519 vector ${vector.key_id}`, base64: vector.secret_key });
  }
  // amproxy's example auth file, as DESIGN.md shows it.
  const design = readFileSync(join(SHARED_DIR, "DESIGN.md"), "utf8");
  for (const match of design.matchAll(/secret_key:\s*([^\s#]+)/g)) {
    secrets.push({ label: "DESIGN.md example", text: match[1] as string });
  }
  return [...secrets, ...literalSecrets(), ...registeredSecrets()];
}

/**
 * Secrets written into the tests' own sources (`secret_key: slow_secret` in an auth file a test
 * writes), so that a test need not register a literal. Heuristic: a value of 8 or more characters
 * with a lower-case letter and a digit, `_` or `-`, and no `.` (which would be code, not YAML).
 */
function literalSecrets(): RegisteredSecret[] {
  const found = new Set<string>();
  const testDir = join(REPO_ROOT, "test");
  for (const entry of readdirSync(testDir, { recursive: true }) as string[]) {
    if (!entry.endsWith(".ts")) continue;
    const text = readFileSync(join(testDir, entry), "utf8");
    for (const match of text.matchAll(/secret_key["']?:\s*["']?([A-Za-z0-9_+/=-]{8,})/g)) {
      const value = match[1] as string;
      if (/[a-z]/.test(value) && /[\d_-]/.test(value)) found.add(value);
    }
  }
  return [...found].map((text) => ({ label: "a secret_key written in a test's source", text }));
}

function scan(
  texts: readonly { file: string; text: string }[],
  secrets: readonly RegisteredSecret[],
): string[] {
  const found: string[] = [];
  const needles = secrets.flatMap((secret) =>
    needlesOf(secret).map((needle) => ({ label: secret.label, needle })),
  );
  for (const { file, text } of texts) {
    for (const { label, needle } of needles) if (text.includes(needle)) found.push(`${file}: ${label}`);
    if (PEM_PRIVATE_KEY.test(text)) found.push(`${file}: a PEM private key`);
  }
  return [...new Set(found)];
}

describe("no log of the test run holds a secret or a private key", () => {
  let server: FaultServer;
  let pki: TestPki;
  let certDir: string;
  const own: { file: string; text: string }[] = [];
  const secret = generateHmacSecret();
  registerSecret("secret-scan hmac secret", secret);

  before(async () => {
    pki = await createTestPki();
    registerSecret("secret-scan PKI server key", pki.server.key);
    const hmac = loadHmacVectors();
    const ed = loadEd25519Vectors().vectors;
    const keyIds = new Set<string>();
    let auth = `apikeys:\n  scan-device:\n    secret_key: ${secret}\n    metrics: ["scan.**"]\n`;
    for (const vector of hmac) {
      if (keyIds.has(vector.key_id)) continue;
      keyIds.add(vector.key_id);
      auth += `  ${vector.key_id}:\n    secret_key: ${vector.secret_key}\n    metrics: ["**"]\n`;
    }
    for (const vector of ed) {
      if (keyIds.has(vector.key_id)) continue;
      keyIds.add(vector.key_id);
      auth += `  ${vector.key_id}:\n    ed25519: ${vector.public_key}\n    metrics: ["**"]\n`;
    }
    certDir = makeTempDir("secret-scan-tls");
    writeFileSync(join(certDir, "server.crt"), pki.server.cert);
    writeFileSync(join(certDir, "server.key"), pki.server.key);
    server = await startFaultServer({
      carbonAddr: `${LOOPBACK}:9`,
      authText: auth,
      flags: {
        listen: [`tcp://${LOOPBACK}:0`, `http://${LOOPBACK}:0`, `tls://${LOOPBACK}:0`],
        "tls-cert": join(certDir, "server.crt"),
        "tls-key": join(certDir, "server.key"),
        "log-level": "debug",
        "max-failures": "0",
      },
      name: "secret-scan-server",
    });
  });
  after(async () => {
    await server?.close();
    await pki?.dispose();
  });

  test("the scan finds what it looks for (a planted secret, a seed in hex, a PEM key)", () => {
    const secrets = knownSecrets();
    const seed = Buffer.from(loadEd25519Vectors().vectors[0]?.secret_key ?? "", "base64").subarray(0, 32);
    const planted = [
      { file: "planted 1", text: `level=info msg=x key=${secret}` },
      { file: "planted 2", text: `seed=${seed.toString("hex")}` },
      { file: "planted 3", text: pki.server.key },
    ];
    assert.deepEqual(
      scan(planted, secrets).map((finding) => finding.split(":")[0]),
      ["planted 1", "planted 2", "planted 3", "planted 3"],
    );
  });

  test("the server's own log, after good, forged and malformed lines, broken auth files and broken TLS files", async () => {
    const now = nowSeconds();
    const vectorLines = [...loadHmacVectors(), ...loadEd25519Vectors().vectors].map((vector) => vector.line);
    const forged = vectorLines.map((line) =>
      line.replace(
        / (\S)(\S+)$/,
        (_all, first: string, rest: string) => ` ${first === "A" ? "B" : "A"}${rest}`,
      ),
    );
    const fresh = `scan.metric 1 ${now} scan-device ${"A".repeat(43)}=`;
    await sendLines(server.port("tcp"), [...vectorLines, ...forged, fresh, "garbage", `${fresh}\tx`]);
    await postLines(server.port("http"), [...vectorLines, ...forged, fresh]);

    // Auth files broken around a secret: a lost colon, a comma for a colon, an unresolved alias.
    const good = readFileSync(server.authFile, "utf8");
    for (const broken of [
      good.replace(`secret_key: ${secret}`, `secret_key ${secret}`),
      `apikeys:\n  k: {secret_key, ${secret}, metrics: [m]}\n`,
      `apikeys:\n  ? {k: {secret_key: ${secret}}}\n  : x\n`,
      `apikeys: *nowhere\n# ${secret}\n`,
    ]) {
      const before = await server.sample("homeward_server_auth_reload_errors_total");
      writeFileSync(server.authFile, broken);
      server.server.reload();
      await pollUntil(
        async () =>
          (await server.sample("homeward_server_auth_reload_errors_total")) > before ? true : undefined,
        {
          what: "the reload error",
        },
      );
    }
    writeFileSync(server.authFile, good);
    server.server.reload();

    // A TLS key that does not match the certificate (the CA's key in its place).
    writeFileSync(join(certDir, "server.key"), readFileSync(join(pki.dir, "ca.key")));
    server.server.reload();
    await pollUntil(
      async () => ((await server.sample("homeward_server_tls_reload_errors_total")) > 0 ? true : undefined),
      {
        what: "the TLS reload error",
      },
    );
    writeFileSync(join(certDir, "server.key"), pki.server.key);
    server.server.reload();

    own.push({
      file: "secret-scan server log",
      text: server
        .logs()
        .map((entry) => JSON.stringify(entry))
        .join("\n"),
    });
    assert.ok(server.logsMatching(/auth file not reloaded/).length >= 4);
    assert.deepEqual(scan(own, knownSecrets()), []);
  });

  test("a server that refuses to start on a broken auth file says why without the secret", async () => {
    const dir = makeTempDir("secret-scan-start");
    const authFile = join(dir, "auth_file.yaml");
    writeFileSync(authFile, `apikeys:\n  k: {secret_key ${secret}, metrics: [m]}\n`);
    const result = await runHomeward([
      "server",
      "--auth-file",
      authFile,
      "--state-dir",
      "",
      "--addr",
      `${LOOPBACK}:0`,
    ]);
    persistLog("secret-scan-refused-start", result.stdout + result.stderr);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /auth file/);
    own.push({ file: "homeward server refusing to start", text: result.stdout + result.stderr });
    assert.deepEqual(scan(own, knownSecrets()), []);
  });

  test("every log this test run kept (HOMEWARD_TEST_LOG_DIR), scanned for every secret and key it used", (t) => {
    const logs = collectedLogs();
    const secrets = knownSecrets();
    if (!process.env[TEST_LOG_DIR_ENV]) {
      t.diagnostic(`${TEST_LOG_DIR_ENV} is not set: only this file's own logs were scanned`);
    }
    const bytes = logs.reduce((sum, log) => sum + log.text.length, 0);
    t.diagnostic(
      `scanned ${logs.length} log files (${bytes} bytes) and ${own.length} logs of this file for ` +
        `${secrets.length} secrets (${secrets.reduce((sum, secret) => sum + needlesOf(secret).length, 0)} forms)`,
    );
    assert.deepEqual(scan(logs, secrets), []);
  });
});
