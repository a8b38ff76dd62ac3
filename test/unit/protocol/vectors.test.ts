import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ed25519Signer, ed25519Verifier, hmacSigner, hmacVerifier } from "../../../protocol/keys.ts";
import { canonicalMessage, formatSignedLine, parseSignedLine } from "../../../protocol/line.ts";
import { RejectReason } from "../../../protocol/reasons.ts";
import { checkSignature } from "../../../protocol/verify-line.ts";
import { runHomeward } from "../../support/cli.ts";
import { loadEd25519Vectors, loadHmacVectors } from "../../support/vectors.ts";

const { vectors: ed25519Vectors, mustFail } = loadEd25519Vectors();
const hmacVectors = loadHmacVectors();
const workDir = mkdtempSync(join(tmpdir(), "homeward-vectors-"));
after(() => rmSync(workDir, { recursive: true, force: true }));

function parsed(line: string) {
  const result = parseSignedLine(line);
  assert.ok(result.ok, `expected ${line} to parse, got ${result.ok ? "" : result.reason}`);
  return result.line;
}

describe("ed25519 vectors", () => {
  test("the vector files are present and not empty", () => {
    assert.ok(ed25519Vectors.length >= 10);
    assert.ok(mustFail.length >= 4);
  });

  for (const [index, vector] of ed25519Vectors.entries()) {
    test(`vector ${index} (${vector.key_id}) parses, round-trips and verifies`, () => {
      const line = parsed(vector.line);
      assert.equal(canonicalMessage(line), vector.message);
      assert.equal(line.signature, vector.signature);
      assert.equal(formatSignedLine(line), vector.line);
      const verifier = ed25519Verifier(Buffer.from(vector.public_key, "base64"));
      assert.equal(checkSignature(line, "ed25519", [verifier]), undefined);
    });

    test(`vector ${index} (${vector.key_id}): node:crypto signing reproduces the signature`, () => {
      const signer = ed25519Signer(Buffer.from(vector.secret_key, "base64"));
      assert.equal(signer.sign(vector.message), vector.signature);
    });
  }

  for (const [index, vector] of mustFail.entries()) {
    test(`must_fail ${index}: ${vector.why}`, () => {
      const line = parsed(vector.line);
      const verifier = ed25519Verifier(Buffer.from(vector.public_key, "base64"));
      assert.equal(checkSignature(line, "ed25519", [verifier]), RejectReason.BadSignature);
    });
  }

  test("an ed25519 signature checked as an hmac key has the wrong length", () => {
    const vector = ed25519Vectors[0];
    assert.ok(vector);
    assert.equal(
      checkSignature(parsed(vector.line), "hmac", [hmacVerifier("x")]),
      RejectReason.BadSignatureLength,
    );
  });
});

describe("hmac (amproxy) vectors", () => {
  for (const [index, vector] of hmacVectors.entries()) {
    test(`vector ${index} (${vector.key_id}) parses and verifies`, () => {
      const line = parsed(vector.line);
      assert.equal(canonicalMessage(line), vector.message);
      assert.equal(checkSignature(line, "hmac", [hmacVerifier(vector.secret_key)]), undefined);
      assert.equal(hmacSigner(vector.secret_key).sign(vector.message), vector.signature);
    });

    test(`vector ${index} fails under another secret`, () => {
      assert.equal(
        checkSignature(parsed(vector.line), "hmac", [hmacVerifier(`${vector.secret_key}x`)]),
        RejectReason.BadSignature,
      );
    });
  }

  test("an hmac signature checked as an ed25519 key has the wrong length", () => {
    const vector = hmacVectors[0];
    assert.ok(vector);
    const ed = ed25519Vectors[0];
    assert.ok(ed);
    assert.equal(
      checkSignature(parsed(vector.line), "ed25519", [ed25519Verifier(Buffer.from(ed.public_key, "base64"))]),
      RejectReason.BadSignatureLength,
    );
  });
});

describe("homeward sign reproduces every vector byte for byte", () => {
  for (const [index, vector] of ed25519Vectors.entries()) {
    test(`ed25519 vector ${index} via --key-file`, async () => {
      const keyFile = join(workDir, `ed-${index}.key`);
      writeFileSync(
        keyFile,
        JSON.stringify({ key_id: vector.key_id, algorithm: "ed25519", secret_key: vector.secret_key }),
        { mode: 0o600 },
      );
      const signature = await runHomeward(["sign", "--key-file", keyFile, vector.message]);
      assert.equal(signature.code, 0, signature.stderr);
      assert.equal(signature.stdout, `${vector.signature}\n`);
      const line = await runHomeward(["sign", "--line", "--key-file", keyFile, vector.message]);
      assert.equal(line.stdout, `${vector.line}\n`);
    });
  }

  for (const [index, vector] of hmacVectors.entries()) {
    test(`hmac vector ${index} via KEY_PRIVATE, as amproxy's client signature`, async () => {
      const result = await runHomeward(["sign", vector.message], { env: { KEY_PRIVATE: vector.secret_key } });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${vector.signature}\n`);
    });
  }
});
