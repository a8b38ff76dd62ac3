import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { runHomeward } from "../../support/cli.ts";
import { loadEd25519Vectors, loadHmacVectors } from "../../support/vectors.ts";

const dir = mkdtempSync(join(tmpdir(), "homeward-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("homeward", () => {
  test("--help lists the commands and exits 0; no command exits 2", async () => {
    const help = await runHomeward(["--help"]);
    assert.equal(help.code, 0);
    for (const name of ["keygen", "sign", "verify"]) assert.match(help.stdout, new RegExp(`\\b${name}\\b`));
    assert.equal((await runHomeward([])).code, 2);
    assert.equal((await runHomeward(["frobnicate"])).code, 2);
  });

  test("--version prints the package version", async () => {
    const version = JSON.parse(
      readFileSync(new URL("../../../package.json", import.meta.url), "utf8"),
    ).version;
    const result = await runHomeward(["--version"]);
    assert.equal(result.stdout, `homeward ${version}\n`);
  });

  for (const name of ["keygen", "sign", "verify"]) {
    test(`${name} --help exits 0 and an unknown flag exits 2`, async () => {
      const help = await runHomeward([name, "--help"]);
      assert.equal(help.code, 0);
      assert.match(help.stdout, new RegExp(`Usage: homeward ${name}`));
      const bad = await runHomeward([name, "--no-such-flag"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /no-such-flag/);
    });
  }

  test("keygen writes a 0600 key whose printed entry verifies its lines; verify reports each line", async () => {
    const keyFile = join(dir, "grandma-pi.key");
    const keygen = await runHomeward(["keygen", "--name", "grandma-pi", "--out", keyFile]);
    assert.equal(keygen.code, 0, keygen.stderr);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const authFile = join(dir, "auth.yaml");
    writeFileSync(authFile, `apikeys:\n${keygen.stdout}`);

    const now = Math.floor(Date.now() / 1000);
    const good = await runHomeward([
      "sign",
      "--line",
      "--key-file",
      keyFile,
      `homeward.grandma-pi.x 1 ${now} grandma-pi`,
    ]);
    assert.equal(good.code, 0, good.stderr);
    const outside = await runHomeward([
      "sign",
      "--line",
      "--key-file",
      keyFile,
      `other.x 1 ${now} grandma-pi`,
    ]);
    const tampered = good.stdout.replace(" 1 ", " 2 ");
    const input = `${good.stdout}${outside.stdout}${tampered}not a line\n`;
    const verdicts = await runHomeward(["verify", "--auth-file", authFile, "--check-time"], { input });
    assert.equal(verdicts.code, 1);
    assert.deepEqual(verdicts.stdout.trim().split("\n"), [
      "1 ok",
      "2 reject acl_denied",
      "3 reject bad_signature",
      "4 reject field_count: expected 5 fields separated by single spaces, got 3",
    ]);
  });

  test("keygen --algorithm hmac prints an amproxy entry", async () => {
    const keyFile = join(dir, "amproxy.key");
    const result = await runHomeward([
      "keygen",
      "--name",
      "my_public_key",
      "--algorithm",
      "hmac",
      "--out",
      keyFile,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /secret_key: \S+/);
    assert.equal(JSON.parse(readFileSync(keyFile, "utf8")).algorithm, "hmac");
  });

  test("verify accepts the shared vectors under an amproxy auth file with an ed25519 key added", async () => {
    const hmac = loadHmacVectors();
    const { vectors, mustFail } = loadEd25519Vectors();
    const ed = vectors.find((vector) => vector.key_id === "grandma-pi");
    assert.ok(ed);
    const authFile = join(dir, "vectors.yaml");
    writeFileSync(
      authFile,
      [
        "apikeys:",
        "  my_public_key:",
        "    secret_key: my_secret_key",
        "    metrics: [foo, metric1]",
        "  my_public_key2:",
        "    secret_key: my_secret_key2",
        "    metrics: [metric3]",
        "  grandma-pi:",
        `    ed25519: ${ed.public_key}`,
        '    metrics: ["homeward.grandma-pi.**", foo]',
        "",
      ].join("\n"),
    );
    const lines = [
      ...hmac.map((vector) => vector.line),
      ...vectors.filter((v) => v.key_id === "grandma-pi").map((v) => v.line),
    ];
    const result = await runHomeward(["verify", "--auth-file", authFile], { input: `${lines.join("\n")}\n` });
    assert.equal(result.code, 0, result.stdout);
    assert.equal(result.stdout.trim().split("\n").length, lines.length);
    const failing = await runHomeward(["verify", "--auth-file", authFile], {
      input: `${mustFail.map((vector) => vector.line).join("\n")}\n`,
    });
    assert.match(failing.stdout, /reject unknown_key|reject bad_signature/);
  });

  test("sign refuses a key file readable by others, exit 1", async () => {
    const keyFile = join(dir, "loose.key");
    writeFileSync(keyFile, JSON.stringify({ key_id: "k", algorithm: "hmac", secret_key: "loose-secret" }), {
      mode: 0o644,
    });
    const result = await runHomeward(["sign", "--key-file", keyFile, "m 1 2 k"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /chmod 600/);
    assert.doesNotMatch(result.stderr, /loose-secret/);
  });
});
