import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import pino from "pino";
import { AuthFileError, loadAuthFile, parseAuthFile } from "../../server-stub/auth/auth-file.ts";
import { AuthStore } from "../../server-stub/auth/auth-store.ts";
import { makeTempDir } from "../harness/cleanup.ts";
import { authBytesTarget, authStructureTarget, authTypoTarget } from "./targets.ts";

/** Inputs the fuzzer found that once threw something other than AuthFileError, or echoed a secret. */
const FOUND = {
  unresolvedAlias: "*\u0000",
  aliasBomb:
    "a: &a [1,2]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\napikeys: {}\n",
  reversedRange: "apikeys:\n  k: {secret_key: S3CR3Tabcdefgh, metrics: ['[z-a]']}\n",
  maxAgeObject: "apikeys:\n  k: {secret_key: S3CR3Tabcdefgh, metrics: [m], max_age: {toString: 1}}\n",
  missingColon: "apikeys:\n  a: {secret_key S3CR3Tabcdefgh, metrics: [metric1]}\n",
  flowKey: "apikeys:\n  ? {k: {secret_key: S3CR3Tabcdefgh, metrics: [m]}}\n  : x\n",
};

describe("the auth-file loader under fuzzing (npm run fuzz runs the same properties a million times)", () => {
  test("random bytes and YAML token soup: only AuthFileError is ever thrown", () => {
    authBytesTarget.check({ numRuns: 3_000 });
  });

  test("random structures as YAML and JSON: only AuthFileError, and no secret value in its message", () => {
    authStructureTarget.check({ numRuns: 1_000 });
  });

  test("typos in a good file (a lost colon, a stray comma or brace): no secret in the message", () => {
    authTypoTarget.check({ numRuns: 3_000 });
  });

  for (const [name, text] of Object.entries(FOUND)) {
    test(`found by the fuzzer: ${name} is an AuthFileError that shows no secret`, () => {
      assert.throws(
        () => parseAuthFile(text, "/fuzz/auth_file.yaml"),
        (error: unknown) => error instanceof AuthFileError && !error.message.includes("S3CR3T"),
      );
    });
  }

  test("a useful name is still repeated back: a typo of a field, a short invalid key id", () => {
    assert.throws(
      () => parseAuthFile("apikeys:\n  grandma pi:\n    secret_kye: x\n    metrics: [m]\n", "f"),
      /apikeys\.grandma pi: key id must match.*apikeys\.grandma pi\.secret_kye: unknown field/s,
    );
  });

  test("unreadable paths are AuthFileError too", () => {
    const dir = makeTempDir("fuzz-auth");
    assert.throws(() => loadAuthFile(dir), AuthFileError);
    assert.throws(() => loadAuthFile(join(dir, "missing.yaml")), AuthFileError);
  });

  test("a reload of any of those files keeps the last good table instead of throwing out of the watcher", () => {
    const dir = makeTempDir("fuzz-auth-store");
    const path = join(dir, "auth_file.yaml");
    writeFileSync(path, "apikeys:\n  k:\n    secret_key: S3CR3Tabcdefgh\n    metrics: [m]\n");
    const lines: string[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(line) });
    const store = new AuthStore(path, log, { pollMs: 60_000 });
    try {
      for (const text of Object.values(FOUND)) {
        writeFileSync(path, text);
        assert.equal(store.reload("test"), false);
        assert.equal(store.current.entries.size, 1);
      }
      assert.equal(store.stats().reloadErrors, Object.keys(FOUND).length);
      assert.ok(!lines.join("").includes("S3CR3T"), "the reload errors show no secret");
    } finally {
      store.close();
    }
  });
});
