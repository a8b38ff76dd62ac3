// The checks both binaries must pass: --version, keygen, and sign against the shared vectors.
// Called by binary-x64.test.ts (natively) and binary-arm64.test.ts (under qemu-aarch64-static).
import assert from "node:assert/strict";
import { verify } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { ed25519PublicKeyObject } from "../../../protocol/keys.ts";
import { loadEd25519Vectors, loadHmacVectors, REPO_ROOT } from "../../support/vectors.ts";
import { runBinary } from "./binaries.ts";
import type { Target } from "./binaries.ts";

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string })
  .version;

export function binaryContract(target: Target, prepare: () => void): void {
  let dir: string;
  before(() => {
    prepare();
    dir = mkdtempSync(join(tmpdir(), `homeward-e2e-${target}-`));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("--version prints the package version", async () => {
    const result = await runBinary(target, ["--version"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `homeward ${VERSION}\n`);
    assert.equal(result.stderr, "", "no SEA warning or anything else on stderr");
  });

  it("keygen writes a 0600 key whose signatures verify against the printed entry", async () => {
    const keyFile = join(dir, "box.key");
    const result = await runBinary(target, ["keygen", "--name", "e2e-box", "--out", keyFile]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const publicKey = /ed25519: ([A-Za-z0-9+/]{43}=)/.exec(result.stdout)?.[1];
    assert.ok(publicKey, result.stdout);
    const message = "homeward.e2e-box.test.value 1.5 1764000000 e2e-box";
    const signed = await runBinary(target, ["sign", "--key-file", keyFile, message]);
    assert.equal(signed.code, 0, signed.stderr);
    const signature = Buffer.from(signed.stdout.trim(), "base64");
    const key = ed25519PublicKeyObject(Buffer.from(publicKey, "base64"));
    assert.ok(verify(null, Buffer.from(message), key, signature));
  });

  it("sign matches every ed25519 vector", async () => {
    for (const [index, vector] of loadEd25519Vectors().vectors.entries()) {
      const keyFile = join(dir, `vector-${index}.key`);
      writeFileSync(
        keyFile,
        JSON.stringify({ key_id: vector.key_id, algorithm: "ed25519", secret_key: vector.secret_key }),
      );
      chmodSync(keyFile, 0o600);
      const result = await runBinary(target, ["sign", "--line", "--key-file", keyFile, vector.message]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${vector.line}\n`, `vector ${index} (${vector.key_id})`);
    }
  });

  it("sign matches the amproxy hmac vectors (secret from KEY_PRIVATE)", async () => {
    for (const vector of loadHmacVectors()) {
      const result = await runBinary(target, ["sign", vector.message], {
        env: { KEY_PRIVATE: vector.secret_key },
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${vector.signature}\n`, vector.message);
    }
  });

  it("provision writes the folder, with the unit and scripts inlined in the binary", async () => {
    const out = join(dir, "box");
    const result = await runBinary(target, [
      "provision",
      "--device",
      "e2e-box",
      "--server",
      "https://metrics.example.org",
      "--out",
      out,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(statSync(join(out, "device.key")).mode & 0o777, 0o600);
    for (const name of ["homeward-agent.service", "install.sh", "uninstall.sh"]) {
      assert.equal(
        readFileSync(join(out, name), "utf8"),
        readFileSync(join(REPO_ROOT, "systemd", name), "utf8"),
      );
    }
  });
}
