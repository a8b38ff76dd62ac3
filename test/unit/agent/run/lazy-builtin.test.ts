import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as dnsPromises from "node:dns/promises";
import * as https from "node:https";
import * as tls from "node:tls";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { loadBuiltin } from "../../../../agent/run/lazy-builtin.ts";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

/** The builtins a fresh node process has loaded after running `script` (ESM, under tsx, in ROOT). */
function builtinsLoadedBy(script: string): string[] {
  const listed = `${script}\nconsole.log(JSON.stringify(process.moduleLoadList));`;
  const output = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", listed], {
    cwd: ROOT,
    encoding: "utf8",
  });
  const loaded = JSON.parse(output.trim().split("\n").at(-1) ?? "[]") as string[];
  return loaded.filter((name) => name.startsWith("NativeModule ")).map((name) => name.slice(13));
}

describe("loadBuiltin", () => {
  test("gives the builtin itself, also where process.getBuiltinModule is missing (Node 20 before 20.16)", async () => {
    assert.equal((await loadBuiltin("node:tls")).connect, tls.connect);
    assert.equal((await loadBuiltin("node:https")).request, https.request);
    const descriptor = Object.getOwnPropertyDescriptor(process, "getBuiltinModule");
    delete (process as { getBuiltinModule?: unknown }).getBuiltinModule;
    try {
      assert.equal((await loadBuiltin("node:dns/promises")).Resolver, dnsPromises.Resolver);
      assert.equal((await loadBuiltin("node:tls")).checkServerIdentity, tls.checkServerIdentity);
    } finally {
      if (descriptor) Object.defineProperty(process, "getBuiltinModule", descriptor);
    }
  });

  test("the agent's modules and its transports, made but not sending yet, load no TLS, HTTP or DNS code", () => {
    const loaded = builtinsLoadedBy(
      [
        'await import("./agent/main.ts");',
        'const { createTransport } = await import("./agent/transports/index.ts");',
        'for (const url of ["http://127.0.0.1:9", "https://127.0.0.1:9", "tcp://127.0.0.1:9", "tls://127.0.0.1:9"])',
        "  createTransport({ url });",
      ].join("\n"),
    );
    const lazy = loaded.filter((name) => /^(_?https?|_http_\w+|_?tls\w*|dns\/promises)$/.test(name));
    assert.deepEqual(lazy, []);
    assert.ok(loaded.includes("net"), "the module list was read");
  });
});
