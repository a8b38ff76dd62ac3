// The builtins a running agent loads, in the CommonJS bundle the npm package and the single binary
// run (under tsx, Node's ESM loader and tsx itself load fs/promises, so only a bundle can tell).
// Neither fs/promises nor perf_hooks is among them: together they cost ~0.75 MiB of steady RSS on
// Node 24 (BENCHMARKS.md, "Agent"), and the agent does with the callback fs API and process.hrtime.
// Nor internal/fs/promises and the REPL history, which opening process.stdin brings (/dev/null under
// systemd and here, a file, so a fs.ReadStream): the agent never opens it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { writeKeyFile } from "../../../protocol/key-file.ts";
import { generateEd25519KeyPair } from "../../../protocol/keys.ts";
import { bundle, REPO_ROOT } from "../../../scripts/build/bundle.ts";
import { makeTempDir, removeTempDir } from "../../harness/cleanup.ts";
import { pollUntil } from "../../harness/poll.ts";
import { startIngestTestServer } from "./transports/ingest-test-server.ts";

const dir = makeTempDir("steady-builtins");
after(() => removeTempDir(dir));

/** fs/promises, perf_hooks, what the global `performance` loads at its first use, and what stdin would. */
const UNWANTED =
  /^(fs\/promises|internal\/fs\/promises|internal\/repl\/history|perf_hooks|internal\/perf\/(performance|event_loop_delay|usertiming)|internal\/histogram)$/;
const EVERY_SECOND = "* * * * * *";

describe("a running agent's builtins", () => {
  test("the default collectors, the disk buffer, the status file and an http:// server: no fs/promises, no perf_hooks", async (t) => {
    const script = join(dir, "homeward.cjs");
    await bundle({ outfile: script, minify: false, target: "node20" });
    const listFile = join(dir, "builtins.json");
    const dumpOnExit = join(dir, "dump-builtins.cjs");
    writeFileSync(
      dumpOnExit,
      `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(listFile)}, JSON.stringify(process.moduleLoadList)));\n`,
    );

    const sink = await startIngestTestServer((lines) => ({
      status: 200,
      body: { accepted: lines.length, rejected: {}, errors: [] },
    }));
    t.after(() => sink.close());
    const pair = generateEd25519KeyPair();
    const keyFile = join(dir, "device.key");
    writeKeyFile(keyFile, {
      keyId: "steady",
      algorithm: "ed25519",
      secret: pair.secretKey,
      publicKey: pair.publicKey,
    });
    const config = join(dir, "agent.json");
    // The default config, with every collector every second so each runs within the test.
    writeFileSync(
      config,
      JSON.stringify({
        device: "steady",
        key_file: keyFile,
        server: { url: sink.url },
        collect: {
          system: { schedule: EVERY_SECOND },
          pi: { schedule: EVERY_SECOND, root: join(REPO_ROOT, "test/fixtures/hosts/pi4-bookworm") },
          net: { schedule: EVERY_SECOND, root: join(REPO_ROOT, "test/fixtures/hosts/bare") },
          self: { schedule: EVERY_SECOND },
        },
      }),
    );
    const stateDir = join(dir, "state");
    mkdirSync(stateDir);

    const agent = spawn(
      process.execPath,
      ["--require", dumpOnExit, script, "agent", "--config", config, "--state-dir", stateDir],
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    agent.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const exited = new Promise((resolve) => agent.once("exit", resolve));
    t.after(() => agent.kill("SIGKILL"));
    const shipped = (name: string): number =>
      sink.requests.filter((request) => request.body.includes(name)).length;
    // Two runs of self: the second one reads lag the sampler measured in steady state.
    await pollUntil(
      () => {
        if (agent.exitCode !== null) throw new Error(`the agent exited (${agent.exitCode}):\n${stderr}`);
        return shipped(".self.event_loop.lag_max_ms ") >= 2 && shipped(".system.disk.") >= 2
          ? true
          : undefined;
      },
      { timeoutMs: 30_000, what: "two batches with self and system readings", describe: () => stderr },
    );
    agent.kill("SIGTERM");
    await exited;

    const builtins = (JSON.parse(readFileSync(listFile, "utf8")) as string[])
      .filter((name) => name.startsWith("NativeModule "))
      .map((name) => name.slice("NativeModule ".length));
    assert.ok(builtins.includes("http") && builtins.includes("zlib"), "the list is of a shipping agent");
    assert.deepEqual(
      builtins.filter((name) => UNWANTED.test(name)),
      [],
    );
  });
});
