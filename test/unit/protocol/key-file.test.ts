import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { KeyFileError, readKeyFile, signerForKey, writeKeyFile } from "../../../protocol/key-file.ts";
import { ed25519Verifier, generateEd25519KeyPair } from "../../../protocol/keys.ts";

const dir = mkdtempSync(join(tmpdir(), "homeward-keyfile-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("key files", () => {
  test("written with mode 0600 whatever the umask, and read back", () => {
    const previous = process.umask(0o000);
    const path = join(dir, "device.key");
    try {
      const pair = generateEd25519KeyPair();
      writeKeyFile(path, {
        keyId: "grandma-pi",
        algorithm: "ed25519",
        secret: pair.secretKey,
        publicKey: pair.publicKey,
      });
    } finally {
      process.umask(previous);
    }
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const key = readKeyFile(path);
    assert.equal(key.keyId, "grandma-pi");
    assert.equal(key.algorithm, "ed25519");
    const signature = signerForKey(key).sign("m 1 2 grandma-pi");
    assert.ok(
      ed25519Verifier(key.publicKey ?? new Uint8Array()).verify(
        "m 1 2 grandma-pi",
        Buffer.from(signature, "base64"),
      ),
    );
  });

  test("an existing key is not replaced unless asked", () => {
    const path = join(dir, "existing.key");
    writeFileSync(path, "{}", { mode: 0o600 });
    assert.throws(
      () => writeKeyFile(path, { keyId: "a", algorithm: "hmac", secret: Buffer.from("s") }),
      /already exists/,
    );
    writeKeyFile(path, { keyId: "a", algorithm: "hmac", secret: Buffer.from("s") }, { overwrite: true });
    assert.equal(readKeyFile(path).keyId, "a");
  });

  for (const mode of [0o640, 0o604, 0o644, 0o660, 0o666, 0o602]) {
    test(`mode 0${mode.toString(8)} is refused with the fix in the message`, () => {
      const path = join(dir, `loose-${mode.toString(8)}.key`);
      writeFileSync(path, JSON.stringify({ key_id: "a", algorithm: "hmac", secret_key: "topsecret" }));
      chmodSync(path, mode);
      assert.throws(
        () => readKeyFile(path),
        (error: unknown) =>
          error instanceof KeyFileError &&
          error.message.includes(`chmod 600 ${path}`) &&
          error.message.includes(`0${mode.toString(8)}`) &&
          !error.message.includes("topsecret"),
      );
    });
  }

  test("modes 0600 and 0400 are accepted", () => {
    for (const mode of [0o600, 0o400]) {
      const path = join(dir, `ok-${mode.toString(8)}.key`);
      writeFileSync(path, JSON.stringify({ key_id: "a", algorithm: "hmac", secret_key: "s" }));
      chmodSync(path, mode);
      assert.equal(readKeyFile(path).algorithm, "hmac");
    }
  });

  test("a broken file is refused without quoting its contents", () => {
    const path = join(dir, "broken.key");
    writeFileSync(path, '{"key_id": "a", "secret_key": "hunter2-secret', { mode: 0o600 });
    assert.throws(
      () => readKeyFile(path),
      (error: unknown) => error instanceof KeyFileError && !error.message.includes("hunter2"),
    );
  });

  test("a corrupt ed25519 secret key (public half does not match the seed) is refused", () => {
    const path = join(dir, "corrupt.key");
    const pair = generateEd25519KeyPair();
    const secret = Buffer.from(pair.secretKey);
    secret[40] = (secret[40] ?? 0) ^ 0xff;
    writeFileSync(
      path,
      JSON.stringify({ key_id: "a", algorithm: "ed25519", secret_key: secret.toString("base64") }),
      {
        mode: 0o600,
      },
    );
    assert.throws(() => readKeyFile(path), /does not match its seed/);
    assert.doesNotMatch(readFileSync(path, "utf8"), /^$/);
  });

  test("a missing file names the path", () => {
    assert.throws(() => readKeyFile(join(dir, "nope.key")), /nope\.key: cannot be opened \(ENOENT\)/);
  });
});
