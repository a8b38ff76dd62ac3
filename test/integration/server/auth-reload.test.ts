import assert from "node:assert/strict";
import { mkdirSync, symlinkSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { hmacSigner } from "../../../protocol/keys.ts";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { pollUntil } from "../../harness/poll.ts";
import { nowSeconds, replaceFile, sample, sendLines, signLine, startTestServer } from "./fixture.ts";
import type { TestServer } from "./fixture.ts";

const FIRST = `apikeys:
  old_key:
    secret_key: old_secret
    metrics: ["reload.old.*"]
`;
const WITH_NEW = `${FIRST}  new_key:
    secret_key: new_secret
    metrics: ["reload.new.*"]
`;
const REVOKED = `apikeys:
  new_key:
    secret_key: new_secret
    metrics: ["reload.new.*"]
`;

/** An edit counts once a line signed under the new table is decided as expected, within 2 s. */
async function expectWithin2s(
  server: TestServer,
  send: () => Promise<void>,
  reason: string,
  key: string,
  target: number,
): Promise<void> {
  const started = Date.now();
  await pollUntil(
    async () => {
      await send();
      const count = sample(
        await server.metrics(),
        reason === "accepted"
          ? "homeward_server_lines_accepted_total"
          : "homeward_server_lines_rejected_total",
        reason === "accepted" ? { key } : { key, reason },
      );
      return count >= target ? true : undefined;
    },
    { what: `${key}: ${reason}`, timeoutMs: 2000, intervalMs: 100 },
  );
  assert.ok(Date.now() - started <= 2000);
}

describe("an edited auth file takes effect within 2 s, without a restart", () => {
  let carbon: Carbon;
  let server: TestServer;
  let value = 0;
  const line = (key: string, secret: string, metric: string): string =>
    signLine(hmacSigner(secret), metric, ++value, nowSeconds() - 1000 + value, key);

  before(async () => {
    carbon = await startCarbon();
    // The poll is a backstop at its default (1 s); the directory watch should do it well under that.
    server = await startTestServer({
      carbonPort: carbon.linePort,
      authText: FIRST,
      flags: { "auth-poll": "1s" },
    });
  });
  after(async () => {
    await server?.close();
    await carbon?.dispose();
  });

  test("a key added (file replaced by rename, as editors save) works", async () => {
    const port = server.port("tcp");
    await sendLines(port, [line("new_key", "new_secret", "reload.new.a")]);
    replaceFile(server.authFile, WITH_NEW);
    await expectWithin2s(
      server,
      () => sendLines(port, [line("new_key", "new_secret", "reload.new.a")]),
      "accepted",
      "new_key",
      1,
    );
    await carbon.waitForPoints("reload.new.a", 1);
  });

  test("a broken YAML is refused, says why, and the old keys keep working", async () => {
    const port = server.port("tcp");
    writeFileSync(server.authFile, `${WITH_NEW}  broken: [\n`);
    await pollUntil(
      async () =>
        sample(await server.metrics(), "homeward_server_auth_reload_errors_total") >= 1 ? true : undefined,
      { what: "a reload error", timeoutMs: 2000 },
    );
    const metrics = await server.metrics();
    assert.equal(sample(metrics, "homeward_server_auth_file_ok"), 0);
    assert.equal(sample(metrics, "homeward_server_auth_keys"), 2);
    assert.match(server.logs.text(), /auth file not reloaded; keeping the last good table/);
    assert.doesNotMatch(server.logs.text(), /new_secret|old_secret/);
    const before = sample(metrics, "homeward_server_lines_accepted_total", { key: "old_key" });
    await sendLines(port, [line("old_key", "old_secret", "reload.old.a")]);
    await expectWithin2s(server, async () => undefined, "accepted", "old_key", before + 1);
  });

  test("a key revoked is refused as unknown_key", async () => {
    const port = server.port("tcp");
    const before = sample(await server.metrics(), "homeward_server_lines_rejected_total", {
      key: "-",
      reason: "unknown_key",
    });
    replaceFile(server.authFile, REVOKED);
    await expectWithin2s(
      server,
      () => sendLines(port, [line("old_key", "old_secret", "reload.old.b")]),
      "unknown_key",
      "-",
      before + 1,
    );
    assert.equal(sample(await server.metrics(), "homeward_server_auth_file_ok"), 1);
    await sendLines(port, [line("old_key", "old_secret", "reload.old.c")]);
    await carbon.flush();
    assert.ok(
      !(await carbon.listMetrics()).includes("reload.old.c"),
      "a revoked key's line never reaches Carbon",
    );
  });
});

describe("a symlink swap of the auth file counts as a change", () => {
  let carbon: Carbon;
  let server: TestServer;
  before(async () => {
    carbon = await startCarbon();
    server = await startTestServer({ carbonPort: carbon.linePort, authText: FIRST });
  });
  after(async () => {
    await server?.close();
    await carbon?.dispose();
  });

  test("swapping a ..data symlink, as Kubernetes ConfigMaps do, reloads", async () => {
    // Rebuild the layout: auth_file.yaml -> ..data/auth_file.yaml, ..data -> v1, then swap ..data to v2.
    const dir = server.dir;
    for (const [version, text] of [
      ["v1", FIRST],
      ["v2", WITH_NEW],
    ] as const) {
      mkdirSync(join(dir, version));
      writeFileSync(join(dir, version, "auth_file.yaml"), text);
    }
    symlinkSync("v1", join(dir, "..data"));
    const linked = join(dir, "linked.yaml");
    symlinkSync(join("..data", "auth_file.yaml"), linked);
    renameSync(linked, server.authFile);
    server.server.reload();
    symlinkSync("v2", join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    const port = server.port("tcp");
    await expectWithin2s(
      server,
      () =>
        sendLines(port, [signLine(hmacSigner("new_secret"), "reload.new.b", 1, nowSeconds() - 5, "new_key")]),
      "accepted",
      "new_key",
      1,
    );
  });
});
