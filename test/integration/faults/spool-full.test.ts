import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { spawnServerChild } from "../load/server-process.ts";
import type { ServerChild } from "../load/server-process.ts";
import {
  faultLines,
  makeFaultKey,
  requireMountNamespace,
  onTmpfs,
  postLines,
  startFaultServer,
  waitForMetric,
} from "./support.ts";
import type { FaultServer } from "./support.ts";

describe("fault: the server's spool full (its size limit)", () => {
  let carbon: Carbon;
  let server: FaultServer;
  const key = makeFaultKey();
  before(async () => {
    carbon = await startCarbon();
    server = await startFaultServer({
      carbonAddr: `127.0.0.1:${carbon.linePort}`,
      authText: key.authText,
      flags: { "spool-max-bytes": "40KiB" },
      name: "fault-spool-limit",
    });
  });
  after(async () => {
    await server?.close();
    await carbon?.dispose();
  });

  test("past --spool-max-bytes new lines are refused with 503 and counted as forward_overflow; every line it took reaches Carbon", async () => {
    const metric = "fault.spool.limit";
    const start = nowSeconds() - 5000;
    await carbon.stop();
    await waitForMetric(server, "homeward_server_carbon_connections_up", (up) => up === 0);
    let accepted = 0;
    let refused = 0;
    const statuses = new Set<number>();
    // Bounded: 40 batches of 100 lines; about 4 KiB of spool per batch, so the limit comes early.
    for (let batch = 0; batch < 40; batch++) {
      const reply = await postLines(
        server.port("http"),
        faultLines(key, metric, 100, start + batch * 100, batch * 100),
      );
      statuses.add(reply.status);
      accepted += reply.accepted;
      refused += reply.rejected.forward_overflow ?? 0;
      assert.equal(reply.accepted + (reply.rejected.forward_overflow ?? 0), 100, JSON.stringify(reply));
    }
    assert.ok(accepted > 0 && refused > 0, `${accepted} accepted, ${refused} refused`);
    assert.ok(statuses.has(503), "503 tells the sender to come back later");
    assert.equal(
      await server.sample("homeward_server_lines_rejected_total", {
        key: "fault-device",
        reason: "forward_overflow",
      }),
      refused,
    );
    const rejectionLogs = server.logsMatching(/line rejected/).length;
    assert.ok(
      rejectionLogs <= 20 + 5 * 30,
      `${rejectionLogs} rejection log lines for ${refused} refused lines`,
    );

    await carbon.start();
    await waitForMetric(server, "homeward_server_spool_lines", (depth) => depth === 0, { timeoutMs: 30_000 });
    const points = await carbon.waitForPoints(metric, accepted, { from: start - 1 });
    assert.equal(points.length, accepted, "every accepted line, once");
    assert.doesNotMatch(await server.metrics(), /homeward_server_forward_dropped_lines_total\{[^}]*\} [1-9]/);
  });
});

const namespace = requireMountNamespace();

describe("fault: the disk under the server's spool full (ENOSPC, a 192 KiB tmpfs)", () => {
  let carbon: Carbon;
  let server: ServerChild;
  const key = makeFaultKey();
  before(async () => {
    carbon = await startCarbon();
    const stateDir = join(makeTempDir("fault-enospc"), "state");
    server = await spawnServerChild({
      authText: key.authText,
      carbonAddr: `127.0.0.1:${carbon.linePort}`,
      stateDir,
      wrap: onTmpfs(namespace, stateDir, 192 * 1024),
      name: "fault-enospc-server",
    });
  });
  after(async () => {
    await server?.stop();
    await carbon?.dispose();
  });

  test("when a spool write fails with ENOSPC the server refuses more (503) until it can write again, says so once, and delivers every line it took", async () => {
    const metric = "fault.spool.enospc";
    const start = nowSeconds() - 8000;
    await carbon.stop();
    await waitForMetric(server, "homeward_server_carbon_connections_up", (up) => up === 0);
    let accepted = 0;
    let refused = 0;
    // About 60 bytes a record: 6000 lines are twice what the tmpfs holds. Bounded: 60 batches.
    for (let batch = 0; batch < 60; batch++) {
      const reply = await postLines(
        server.httpPort,
        faultLines(key, metric, 100, start + batch * 100, batch * 100),
      );
      accepted += reply.accepted;
      refused += reply.rejected.forward_overflow ?? 0;
      if (reply.status === 503) assert.equal(reply.accepted, 0);
    }
    server.assertRunning();
    assert.ok(refused > 0, "once the disk is full, lines are refused rather than held in memory");
    assert.equal(
      await server.sample("homeward_server_lines_rejected_total", {
        key: "fault-device",
        reason: "forward_overflow",
      }),
      refused,
    );
    const failures = server
      .logs()
      .filter((entry) => /spool/.test(String(entry.msg)) && entry.level === "error");
    assert.ok(failures.length >= 1, "the full disk is logged");
    assert.ok(failures.length <= 4, `${failures.length} log lines about the spool for 60 batches`);
    assert.ok(
      failures.some((entry) => /ENOSPC/.test(JSON.stringify(entry))),
      "with the reason",
    );

    await carbon.start();
    const points = await carbon.waitForPoints(metric, accepted, { from: start - 1, timeoutMs: 30_000 });
    assert.equal(points.length, accepted, "every accepted line, once");
    await waitForMetric(server, "homeward_server_spool_lines", (depth) => depth === 0);
    assert.doesNotMatch(await server.metrics(), /homeward_server_forward_dropped_lines_total\{[^}]*\} [1-9]/);
    const later = await postLines(server.httpPort, faultLines(key, metric, 10, start + 7000, 7000));
    assert.equal(later.accepted, 10, "taking lines again once Carbon is back");
    server.assertRunning();
  });
});
