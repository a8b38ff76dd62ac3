import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { spawnServerChild } from "../load/server-process.ts";
import type { ServerChild } from "../load/server-process.ts";
import { sendLines } from "../server/fixture.ts";
import {
  faultLines,
  makeFaultKey,
  requireMountNamespace,
  onTmpfs,
  postLines,
  waitForMetric,
} from "./support.ts";

const namespace = requireMountNamespace();

// Root ignores file modes, so a chmod'ed directory proves nothing when the tests run as root: the
// state dir is a tmpfs mounted read-only (EROFS, as after an SD card's filesystem errors) in a
// mount namespace of the server's own.
describe("fault: a read-only state dir", () => {
  let carbon: Carbon;
  let server: ServerChild;
  const key = makeFaultKey();
  before(async () => {
    carbon = await startCarbon();
    const stateDir = join(makeTempDir("fault-rofs"), "state");
    server = await spawnServerChild({
      authText: key.authText,
      carbonAddr: `127.0.0.1:${carbon.linePort}`,
      stateDir,
      wrap: onTmpfs(namespace, stateDir, 64 * 1024, true),
      name: "fault-read-only-server",
    });
  });
  after(async () => {
    await server?.stop();
    await carbon?.dispose();
  });

  test("the server starts without a spool and says so once; lines for a Carbon that is down wait in memory and all arrive", async () => {
    const opened = server.logs().filter((entry) => /cannot open the spool/.test(String(entry.msg)));
    assert.equal(opened.length, 1);
    assert.match(String(opened[0]?.error), /EROFS|read-only/i);

    const metric = "fault.rofs.value";
    const start = nowSeconds() - 2000;
    const lines = faultLines(key, metric, 500, start);
    await sendLines(server.tcpPort, lines.slice(0, 100));
    await carbon.waitForPoints(metric, 100, { from: start - 1 });
    await carbon.stop();
    await waitForMetric(server, "homeward_server_carbon_connections_up", (up) => up === 0);
    await sendLines(server.tcpPort, lines.slice(100, 300));
    const reply = await postLines(server.httpPort, lines.slice(300));
    assert.equal(reply.accepted, 200);
    await waitForMetric(server, "homeward_server_forward_queue_lines", (queued) => queued === 400);

    await carbon.start();
    const points = await carbon.waitForPoints(metric, 500, { from: start - 1 });
    assert.deepEqual(
      points.map(([timestamp, value]) => [timestamp - start, value]),
      lines.map((_, index) => [index, index]),
    );
    server.assertRunning();
    assert.equal(
      server.logs().filter((entry) => /spool (problem|.* failed)|open the spool/.test(String(entry.msg)))
        .length,
      1,
      "said once",
    );
  });
});
