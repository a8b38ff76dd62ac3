import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import {
  amproxySigner,
  grandmaSigner,
  nowSeconds,
  sample,
  sendLines,
  signLine,
  startTestServer,
} from "./fixture.ts";
import type { TestServer } from "./fixture.ts";

describe("amproxy's README flow through homeward server into a real carbon-cache", () => {
  let carbon: Carbon;
  let server: TestServer;

  before(async () => {
    carbon = await startCarbon();
    server = await startTestServer({ carbonPort: carbon.linePort });
  });
  after(async () => {
    await server?.close();
    await carbon?.dispose();
  });

  test("an hmac line signed with my_public_key / my_secret_key lands in whisper with its value and timestamp", async () => {
    const timestamp = nowSeconds() - 5;
    await sendLines(server.port("tcp"), [
      signLine(amproxySigner(), "metric1", 57, timestamp, "my_public_key"),
    ]);
    assert.deepEqual(await carbon.waitForPoints("metric1", [[timestamp, 57]]), [[timestamp, 57]]);
  });

  test("an ed25519 device line lands in whisper too", async () => {
    const timestamp = nowSeconds() - 3;
    const metric = "homeward.grandma-pi.system.cpu.load1";
    await sendLines(server.port("tcp"), [signLine(grandmaSigner(), metric, "0.42", timestamp, "grandma-pi")]);
    assert.deepEqual(await carbon.waitForPoints(metric, [[timestamp, 0.42]]), [[timestamp, 0.42]]);
    const metrics = await server.metrics();
    assert.equal(sample(metrics, "homeward_server_lines_accepted_total", { key: "grandma-pi" }), 1);
  });

  test("a trailing CR is accepted, as from amproxy clients on Windows", async () => {
    const timestamp = nowSeconds() - 7;
    await sendLines(server.port("tcp"), [
      `${signLine(amproxySigner(), "metric2", 12.5, timestamp, "my_public_key")}\r`,
    ]);
    assert.deepEqual(await carbon.waitForPoints("metric2", [[timestamp, 12.5]]), [[timestamp, 12.5]]);
  });
});
