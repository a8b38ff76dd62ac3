import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { waitForPoints } from "../../harness/whisper.ts";
import {
  closedByPeer,
  grandmaSigner,
  nowSeconds,
  openConnection,
  sample,
  signLine,
  startTestServer,
  tamper,
  writeLines,
} from "./fixture.ts";
import type { TestServer } from "./fixture.ts";

describe("a flood of bad signatures from one source is cut off; a good device elsewhere gets through", () => {
  let carbon: Carbon;
  let server: TestServer;
  before(async () => {
    carbon = await startCarbon();
    server = await startTestServer({
      carbonPort: carbon.linePort,
      flags: { "max-failures": "50", "failure-window": "1m", "block-for": "5m" },
    });
  });
  after(async () => {
    await server?.close();
    await carbon?.dispose();
  });

  test("the attacker's connection is closed and refused; every one of the device's lines is accepted", async () => {
    const signer = grandmaSigner();
    const metric = "homeward.grandma-pi.net.rtt_ms";
    const start = nowSeconds() - 1000;
    const port = server.port("tcp");

    const attacker = await openConnection(port, "127.0.0.1");
    const attackerClosed = closedByPeer(attacker, 10_000);
    const device = await openConnection(port, "127.0.0.2");
    let forged = 0;
    let sentGood = 0;
    // Interleaved: the device's lines go out while the flood is under way. Forged lines under the
    // device's key id spend its token bucket (burst 2000) until the budget cuts the source off, and
    // with Ed25519 on worker threads the cut comes only after the verdicts on what was already read
    // (up to 8 chunks a connection): 10 forgeries a round keep the flood and the device's 100 lines
    // inside the burst however late that is on a busy machine, so this tests the cut-off itself.
    for (let round = 0; round < 100; round++) {
      if (!attacker.destroyed) {
        const flood = Array.from({ length: 10 }, (_, index) =>
          tamper(signLine(signer, metric, round * 10 + index, start + round, "grandma-pi")),
        );
        attacker.write(flood.map((line) => `${line}\n`).join(""));
        forged += flood.length;
      }
      await writeLines(device, [signLine(signer, metric, round, start + round, "grandma-pi")]);
      sentGood++;
    }
    await attackerClosed;
    assert.ok(forged > 50, `the attacker got ${forged} lines out before being cut off`);

    const retry = await openConnection(port, "127.0.0.1").catch(() => undefined);
    if (retry) await closedByPeer(retry, 2000);

    let counters = "";
    const points = await waitForPoints(carbon.whisperDir, metric, sentGood, {
      from: start - 1,
      describe: () => `server counters:\n${counters}\ncarbon output:\n${carbon.output().slice(-2048)}`,
    }).catch(async (error: unknown) => {
      counters = (await server.metrics())
        .split("\n")
        .filter((line) => /^homeward_server_(lines|forward|carbon)/.test(line))
        .join("\n");
      throw new Error(`${(error as Error).message}\n${counters}`);
    });
    assert.deepEqual(
      points.map(([timestamp, value]) => [timestamp - start, value]),
      Array.from({ length: sentGood }, (_, round) => [round, round]),
    );
    const metrics = await server.metrics();
    assert.equal(sample(metrics, "homeward_server_lines_accepted_total", { key: "grandma-pi" }), sentGood);
    assert.equal(sample(metrics, "homeward_server_sources_blocked_total"), 1);
    assert.equal(sample(metrics, "homeward_server_sources_blocked"), 1);
    assert.ok(
      sample(metrics, "homeward_server_lines_rejected_total", {
        key: "grandma-pi",
        reason: "bad_signature",
      }) >= 51,
    );
    assert.ok(sample(metrics, "homeward_server_connections_refused_total", { why: "source_blocked" }) >= 1);
    device.destroy();
  });
});
