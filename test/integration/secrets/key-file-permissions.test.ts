import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { generateHmacSecret } from "../../../protocol/keys.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { runHomeward } from "../../support/cli.ts";
import { persistLog, registerSecret } from "../../harness/test-logs.ts";

// readKeyFile's refusal of group/other-readable files, and its message, are unit-tested in
// test/unit/protocol/key-file.test.ts (modes 0640, 0604, 0644, 0660, 0666, 0602 refused; 0600 and
// 0400 taken). This checks the same from the outside: the real `homeward` command a user runs.
describe("a key file that others can read is refused by the command that would use it", () => {
  const dir = makeTempDir("secrets-key-file");
  const secret = generateHmacSecret();
  registerSecret("key-file test hmac secret", secret);
  const contents = JSON.stringify({ key_id: "perm-test", algorithm: "hmac", secret_key: secret });

  for (const mode of [0o644, 0o640, 0o604]) {
    test(`mode 0${mode.toString(8)}: homeward sign refuses it, says how to fix it, and shows no secret`, async () => {
      const path = join(dir, `loose-${mode.toString(8)}.key`);
      writeFileSync(path, contents);
      chmodSync(path, mode);
      const result = await runHomeward(["sign", "--key-file", path, "perm.test 1 1764000000 perm-test"]);
      persistLog("homeward-sign", result.stdout + result.stderr);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, "", "no signature printed");
      assert.match(result.stderr, new RegExp(`0${mode.toString(8)} are too open.*chmod 600`));
      assert.ok(!(result.stdout + result.stderr).includes(secret));
    });
  }

  test("mode 0600: it signs", async () => {
    const path = join(dir, "ok.key");
    writeFileSync(path, contents, { mode: 0o600 });
    chmodSync(path, 0o600);
    const result = await runHomeward(["sign", "--key-file", path, "perm.test 1 1764000000 perm-test"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^[A-Za-z0-9+/]{43}=\n$/);
  });
});
