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

test("matches takes the base64 signature as received: canonical and right, nothing else", () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1, maxLength: 100 }),
      fc.stringMatching(/^[ -~]{0,300}$/),
      fc.nat(43),
      fc.constantFrom(..."AQgw+/=".split("")),
      (secret, message, at, char) => {
        const good = createHmac("sha256", Buffer.from(secret, "utf8"))
          .update(message, "utf8")
          .digest("base64");
        const verifier = fastHmacVerifier(secret);
        assert.equal(verifier.matches(message, good), true);
        const changed = good.slice(0, at) + char + good.slice(at + 1);
        assert.equal(verifier.matches(message, changed), changed === good);
        assert.equal(verifier.matches(message, good.slice(0, 43)), false);
        assert.equal(verifier.matches(message, `${good}=`), false);
      },
    ),
    { numRuns: 2000 },
  );
});
