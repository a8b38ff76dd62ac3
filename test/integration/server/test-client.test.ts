import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { keyFileContents } from "../../../protocol/key-file.ts";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { runHomeward } from "../../support/cli.ts";
import { loadEd25519Vectors } from "../../support/vectors.ts";
import { LOOPBACK, sample, startTestServer } from "./fixture.ts";
import type { TestServer } from "./fixture.ts";

describe("homeward test-client, as amproxy's client test-client", () => {
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

  test("KEY_PUBLIC / KEY_PRIVATE / SERVER_ADDR / METRIC_NAME / INTERVAL: signed lines with values 30..100 land in whisper", async () => {
    const result = await runHomeward(["test-client", "--count", "3"], {
      env: {
        KEY_PUBLIC: "my_public_key",
        KEY_PRIVATE: "my_secret_key",
        SERVER_ADDR: `${LOOPBACK}:${server.port("tcp")}`,
        METRIC_NAME: "metric2",
        INTERVAL: "1100ms",
      },
    });
    assert.equal(result.code, 0, result.stderr);
    const sent = result.stdout.trim().split("\n");
    assert.equal(sent.length, 3);
    const points = await carbon.waitForPoints("metric2", 3, { from: Math.floor(Date.now() / 1000) - 60 });
    for (const [, value] of points) assert.ok(value >= 30 && value <= 100, `value ${value}`);
    assert.deepEqual(
      points.map(([timestamp, value]) => `${timestamp} ${value}`).sort(),
      sent
        .map((line) => line.split(" "))
        .map(([, value, timestamp]) => `${timestamp} ${value}`)
        .sort(),
    );
    assert.equal(
      sample(await server.metrics(), "homeward_server_lines_accepted_total", { key: "my_public_key" }),
      3,
    );
  });

  test("--key-file with an ed25519 device key", async () => {
    const vector = loadEd25519Vectors().vectors.find(
      (item) => item.public_key === "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    );
    assert.ok(vector);
    const keyFile = join(server.dir, "grandma-pi.key");
    const secret = Buffer.from(vector.secret_key, "base64");
    writeFileSync(
      keyFile,
      keyFileContents({ keyId: "grandma-pi", algorithm: "ed25519", secret, publicKey: secret.subarray(32) }),
      { mode: 0o600 },
    );
    const result = await runHomeward([
      "test-client",
      "--key-file",
      keyFile,
      "--server-addr",
      `tcp://${LOOPBACK}:${server.port("tcp")}`,
      "--metric-name",
      "homeward.grandma-pi.test",
      "--count",
      "1",
    ]);
    assert.equal(result.code, 0, result.stderr);
    await carbon.waitForPoints("homeward.grandma-pi.test", 1, { from: Math.floor(Date.now() / 1000) - 60 });
  });

  test("without a key it says what to set, exit 2", async () => {
    const result = await runHomeward(["test-client"], { env: { KEY_PUBLIC: "", KEY_PRIVATE: "" } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /KEY_PUBLIC and KEY_PRIVATE/);
  });
});
