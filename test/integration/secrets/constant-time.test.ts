import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import type * as NodeCrypto from "node:crypto";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { after, before, describe, test } from "node:test";
import { hmacVerifier } from "../../../protocol/keys.ts";
import type { MessageVerifier } from "../../../protocol/keys.ts";
import { parseSignedLine } from "../../../protocol/line.ts";
import { checkSignature } from "../../../protocol/verify-line.ts";
import { parseAuthFile } from "../../../server-stub/auth/auth-file.ts";
import { fastHmacVerifier } from "../../../server-stub/verify/hmac-verifier.ts";
import { loadHmacVectors } from "../../support/vectors.ts";

// What this proves, and what it does not: every HMAC check the server makes ends in one call to
// crypto.timingSafeEqual on two buffers of the full digest (its bytes, or its base64 text),
// whether the signature is right, wrong in its first byte or wrong in its last; none ends early
// in JavaScript. It does not measure
// time: timingSafeEqual's own constancy is OpenSSL's CRYPTO_memcmp, taken as given, and a timing
// test on a shared CI machine would only be flaky. Ed25519 is verified by OpenSSL (crypto.verify)
// against a public key, which holds no secret to leak. A signature of the wrong length is refused
// before the compare: its length is public (it is on the wire), so that shortcut leaks nothing.

interface Call {
  readonly a: Buffer;
  readonly b: Buffer;
}

/**
 * A full-length side of the compare: the 32 digest bytes, or their 44 characters of canonical
 * base64 (the server's verifier compares the signature as received, so that a non-canonical
 * spelling never matches).
 */
function sameDigest(side: Buffer, digest: Buffer): boolean {
  return side.equals(digest) || side.equals(Buffer.from(digest.toString("base64"), "latin1"));
}

const requireCjs = createRequire(import.meta.url);
const cryptoModule = requireCjs("node:crypto") as typeof NodeCrypto;
const original = cryptoModule.timingSafeEqual;
const calls: Call[] = [];

describe("HMAC signatures are compared in constant time", () => {
  before(() => {
    // Builtin modules' ESM named exports follow the CommonJS object after syncBuiltinESMExports():
    // `import { timingSafeEqual } from "node:crypto"` in the verifiers now reaches this wrapper.
    cryptoModule.timingSafeEqual = ((a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      calls.push({
        a: Buffer.from(a.buffer, a.byteOffset, a.byteLength),
        b: Buffer.from(b.buffer, b.byteOffset, b.byteLength),
      });
      return original(a, b);
    }) as typeof original;
    syncBuiltinESMExports();
  });
  after(() => {
    cryptoModule.timingSafeEqual = original;
    syncBuiltinESMExports();
  });

  const vector = loadHmacVectors()[0];
  if (!vector) throw new Error("no hmac vectors");
  const correct = Buffer.from(vector.signature, "base64");
  const flip = (at: number): Buffer => {
    const copy = Buffer.from(correct);
    copy[at] = (copy[at] as number) ^ 0x01;
    return copy;
  };
  const table = parseAuthFile(
    `apikeys:\n  ${vector.key_id}:\n    secret_key: ${vector.secret_key}\n    metrics: ["**"]\n`,
    "constant-time.yaml",
  );
  const verifiers: Record<string, MessageVerifier> = {
    "the server's verifier, built from the auth file": table.entries.get(vector.key_id)
      ?.verifiers[0] as MessageVerifier,
    "the fast verifier (precomputed pads)": fastHmacVerifier(vector.secret_key),
    "protocol/keys.ts hmacVerifier (createHmac)": hmacVerifier(vector.secret_key),
  };

  for (const [name, verifier] of Object.entries(verifiers)) {
    test(`${name}: right, wrong first byte, wrong last byte: each is one full-length timingSafeEqual`, () => {
      for (const [signature, expected] of [
        [correct, true],
        [flip(0), false],
        [flip(correct.length - 1), false],
      ] as const) {
        calls.length = 0;
        assert.equal(verifier.verify(vector.message, signature), expected);
        assert.equal(calls.length, 1, "one compare per check");
        const [call] = calls as [Call];
        const expectedDigest = createHmac("sha256", vector.secret_key).update(vector.message).digest();
        assert.ok(
          sameDigest(call.a, signature) || sameDigest(call.b, signature),
          "the presented signature is one side",
        );
        assert.ok(
          sameDigest(call.a, expectedDigest) || sameDigest(call.b, expectedDigest),
          "the expected digest is the other",
        );
      }
    });
  }

  test("a non-ASCII message takes the fast verifier's other path, also through timingSafeEqual", () => {
    const verifier = fastHmacVerifier(vector.secret_key);
    const message = "mé 1 2 k";
    const signature = createHmac("sha256", vector.secret_key).update(message, "utf8").digest();
    calls.length = 0;
    assert.equal(verifier.verify(message, signature), true);
    assert.equal(verifier.verify(message, Buffer.from(signature).fill(0, 31)), false);
    assert.equal(calls.length, 2);
  });

  test("a wrong-length signature is refused before any compare (its length is on the wire anyway)", () => {
    const line = parseSignedLine(`${vector.message} ${Buffer.alloc(31).toString("base64")}`);
    assert.ok(line.ok);
    calls.length = 0;
    const entry = table.entries.get(vector.key_id);
    assert.ok(entry);
    assert.equal(checkSignature(line.line, "hmac", entry.verifiers), "bad_signature_length");
    assert.equal(calls.length, 0);
  });

  test("a rotated key (two secrets) compares against each, never stopping at a mismatch in between", () => {
    const rotated = parseAuthFile(
      `apikeys:\n  k:\n    secret_key: [old-secret-000, ${vector.secret_key}]\n    metrics: ["**"]\n`,
      "rotated.yaml",
    ).entries.get("k");
    assert.ok(rotated);
    const line = parseSignedLine(
      `${vector.message.replace(vector.key_id, "k")} ${Buffer.alloc(32).toString("base64")}`,
    );
    assert.ok(line.ok);
    calls.length = 0;
    assert.equal(checkSignature(line.line, "hmac", rotated.verifiers), "bad_signature");
    assert.equal(calls.length, 2, "both secrets tried, each by a full compare");
  });
});
