import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { RejectReason } from "../../../../protocol/reasons.ts";
import { parseAuthFile } from "../../../../server-stub/auth/auth-file.ts";
import { DEFERRED, SignatureChecker } from "../../../../server-stub/verify/signature-check.ts";
import type { SignatureVerdict } from "../../../../server-stub/verify/signature-check.ts";
import { parseSignedLine } from "../../../../protocol/line.ts";
import type { SignedLine } from "../../../../protocol/line.ts";
import { ed25519Signer, generateEd25519KeyPair } from "../../../../protocol/keys.ts";
import { canonicalMessage } from "../../../../protocol/line.ts";
import { checkSignature } from "../../../../protocol/verify-line.ts";
import { loadEd25519Vectors } from "../../../support/vectors.ts";

const { vectors, mustFail } = loadEd25519Vectors();
const vector = vectors[0];
if (!vector) throw new Error("no ed25519 vectors");
const newKey = generateEd25519KeyPair();
const table = parseAuthFile(
  `apikeys:
  ${vector.key_id}:
    ed25519: [${Buffer.from(newKey.publicKey).toString("base64")}, ${vector.public_key}]
    metrics: ["**"]
`,
  "auth.yaml",
);
const entry = table.entries.get(vector.key_id);
if (!entry) throw new Error("no entry");

function parsed(text: string): SignedLine {
  const result = parseSignedLine(text);
  if (!result.ok) throw new Error(`${text}: ${result.reason}`);
  return result.line;
}

function check(checker: SignatureChecker, line: SignedLine): Promise<SignatureVerdict> {
  return new Promise((resolve) => {
    const verdict = checker.check(line, entry as never, resolve);
    if (verdict !== DEFERRED) resolve(verdict);
  });
}

for (const workers of [0, 2]) {
  test(`ed25519 with ${workers} worker(s): vectors pass, rotated keys pass, forgeries fail`, async () => {
    const checker = new SignatureChecker({ workers });
    try {
      assert.equal(checker.isDeferred(entry), workers > 0);
      const verdicts = await Promise.all(
        vectors.filter((v) => v.key_id === vector.key_id).map((v) => check(checker, parsed(v.line))),
      );
      assert.ok(verdicts.length > 0 && verdicts.every((verdict) => verdict === undefined));
      const message = canonicalMessage({
        metric: "a.b",
        value: "1",
        timestamp: 1764000000,
        keyId: vector.key_id,
      });
      const rotated = `${message} ${ed25519Signer(newKey.secretKey).sign(message)}`;
      assert.equal(await check(checker, parsed(rotated)), undefined, "signed by the newer key of the two");
      for (const bad of mustFail.filter((item) => item.public_key === vector.public_key)) {
        const line = parseSignedLine(bad.line);
        if (!line.ok) continue;
        assert.notEqual(await check(checker, line.line), undefined, bad.why);
      }
      const forged = parsed(
        vector.line.replace(
          / (.)(\S+)$/,
          (_all, first: string, rest: string) => ` ${first === "A" ? "B" : "A"}${rest}`,
        ),
      );
      assert.equal(await check(checker, forged), RejectReason.BadSignature);
      const many = await Promise.all(Array.from({ length: 1000 }, () => check(checker, parsed(vector.line))));
      assert.ok(many.every((verdict) => verdict === undefined));
      assert.ok(checker.stats().count.ed25519 >= 1000);
    } finally {
      await checker.close();
    }
  });
}

test("lines queued when the pool closes are still decided, on this thread", async () => {
  const checker = new SignatureChecker({ workers: 1 });
  const pending = Array.from({ length: 50 }, () => check(checker, parsed(vector.line)));
  await checker.close();
  assert.deepEqual(
    await Promise.all(pending),
    Array.from({ length: 50 }, () => undefined),
  );
});

test("before a worker sees a signature, its encoding is judged as checkSignature would", async () => {
  const checker = new SignatureChecker({ workers: 1 });
  try {
    const base = parsed(vector.line);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const signatures = fc.oneof(
      fc.uint8Array({ minLength: 64, maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString("base64")),
      fc
        .tuple(fc.stringMatching(/^[A-Za-z0-9+/]{85}$/), fc.constantFrom(...alphabet.split("")))
        .map(([head, last]) => `${head}${last}==`),
      fc.stringMatching(/^[A-Za-z0-9+/]{84,88}={0,2}$/).filter((text) => text.length % 4 === 0),
    );
    fc.assert(
      fc.property(signatures, (signature) => {
        const line = { ...base, signature };
        const pending: Promise<SignatureVerdict>[] = [];
        const verdict = checker.check(line, entry as never, (later) => pending.push(Promise.resolve(later)));
        const expected = checkSignature(line, "ed25519", []);
        if (expected === RejectReason.BadSignature) assert.equal(verdict, DEFERRED, signature);
        else assert.equal(verdict, expected, signature);
      }),
      { numRuns: 3000 },
    );
  } finally {
    await checker.close();
  }
});
