import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { fastHmacVerifier } from "../../../../server-stub/verify/hmac-verifier.ts";
import { loadHmacVectors } from "../../../support/vectors.ts";

test("the fast HMAC verifier accepts every amproxy vector", () => {
  for (const vector of loadHmacVectors()) {
    const verifier = fastHmacVerifier(vector.secret_key);
    assert.equal(verifier.verify(vector.message, Buffer.from(vector.signature, "base64")), true, vector.line);
  }
});

test("it agrees with createHmac for any secret (short, exactly a block, longer) and message", () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1, maxLength: 100 }),
      fc.oneof(fc.stringMatching(/^[ -~]{0,200}$/), fc.string({ unit: "grapheme", maxLength: 50 })),
      fc.boolean(),
      (secret, message, tamper) => {
        const good = createHmac("sha256", Buffer.from(secret, "utf8")).update(message, "utf8").digest();
        if (tamper) good[0] = (good[0] as number) ^ 1;
        return fastHmacVerifier(secret).verify(message, good) === !tamper;
      },
    ),
    { numRuns: 2000 },
  );
});

test("a signature of the wrong length is refused", () => {
  assert.equal(fastHmacVerifier("k").verify("m", Buffer.alloc(31)), false);
});
