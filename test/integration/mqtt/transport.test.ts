// The mqtt transport end to end: agent (disk buffer → shipper → MqttTransport, over TLS with a
// password) → mosquitto → `homeward server --mqtt-url` (shared subscription, persistent session) →
// carbon-cache. Every reading reaches whisper exactly once, across a broker restart and a server
// that is away while the agent publishes.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MqttTransport } from "../../../agent/transports/mqtt.ts";
import { Shipper } from "../../../agent/ship/shipper.ts";
import { canonicalMessage } from "../../../protocol/line.ts";
import { readKeyFile, signerForKey } from "../../../protocol/key-file.ts";
import { DiskQueue } from "../../../queue/disk-queue.ts";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { createTestPki } from "../../harness/certs.ts";
import { startMosquitto } from "../../harness/mosquitto.ts";
import type { Mosquitto } from "../../harness/mosquitto.ts";
import { pollUntil } from "../../harness/poll.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import type { Point } from "../../harness/whisper.ts";
import { sample, startTestServer } from "../server/fixture.ts";
import type { TestServer } from "../server/fixture.ts";
import { FAST_RECONNECT, makeTestDevice, USERS } from "./fixture.ts";
import type { TestDevice } from "./fixture.ts";

const METRICS = ["a", "b", "c"].map((name) => `homeward.grandma-pi.mqtt_transport.${name}`);

/** `perMetric` signed readings for each metric, one per second ending `endTs`; values say which. */
function signedReadings(device: TestDevice, perMetric: number, endTs: number, base: number) {
  const signer = signerForKey(readKeyFile(device.key.path));
  const lines: string[] = [];
  const expected = new Map<string, Point[]>(METRICS.map((metric) => [metric, []]));
  for (let index = 0; index < perMetric; index++) {
    const timestamp = endTs - perMetric + 1 + index;
    METRICS.forEach((metric, which) => {
      const value = base + index * 10 + which;
      const message = canonicalMessage({ metric, value: String(value), timestamp, keyId: "grandma-pi" });
      lines.push(`${message} ${signer.sign(message)}`);
      expected.get(metric)?.push([timestamp, value]);
    });
  }
  return { lines, expected };
}

async function startServer(
  t: { after: (fn: () => Promise<void>) => unknown },
  carbon: Carbon,
  broker: Mosquitto,
  device: TestDevice,
) {
  const server = await startTestServer({
    t,
    carbonPort: carbon.linePort,
    authText: `apikeys:\n${device.authEntry}`,
    flags: {
      listen: ["http://127.0.0.1:0"],
      "mqtt-url": broker.url,
      "mqtt-username": "server",
      "mqtt-password": USERS.server,
      "mqtt-client-id": "homeward-server-test",
    },
  });
  await pollUntil(() => (server.logs.text().includes("mqtt: subscribed") ? true : undefined), {
    what: "the server's subscription",
    describe: () => server.logs.text(),
  });
  return server;
}

async function accepted(server: TestServer): Promise<number> {
  return sample(await server.metrics(), "homeward_server_lines_accepted_total", { key: "grandma-pi" });
}

async function assertExactlyOnce(
  carbon: Carbon,
  expected: Map<string, Point[]>,
  from: number,
  until: number,
) {
  for (const [metric, points] of expected) {
    await carbon.waitForPoints(metric, points, { from, until, timeoutMs: 30_000 });
    const stored = await carbon.fetchPoints(metric, { from, until });
    assert.deepEqual(stored, points, `${metric}: exactly the points sent, each once`);
  }
}

describe("mqtt transport → broker → server → Carbon", () => {
  it("delivers every reading exactly once across a broker restart", async (t) => {
    const pki = await createTestPki({ t });
    const carbon = await startCarbon({ t });
    const broker = await startMosquitto({
      t,
      users: { ...USERS },
      tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.caFile },
    });
    const device = makeTestDevice("grandma-pi");
    const server = await startServer(t, carbon, broker, device);

    const queue = await DiskQueue.open({ dir: join(device.stateDir, "buffer") });
    t.after(() => queue.close());
    const transport = new MqttTransport({
      url: broker.tlsUrl as string,
      caFile: pki.caFile,
      settings: { device: "grandma-pi", username: "grandma-pi", password: USERS["grandma-pi"] },
      timeoutMs: 5_000,
      reconnect: FAST_RECONNECT,
    });
    t.after(() => transport.close());
    assert.equal(transport.target, `${broker.tlsUrl}/homeward/grandma-pi/lines`);
    const shipper = new Shipper({
      queue,
      transport,
      linesPerSecond: 120,
      maxBatchLines: 12,
      idlePollMs: 100,
      backoff: { initialMs: 200, maxMs: 1_000, maxRetryAfterMs: 1_000 },
    });
    t.after(() => shipper.stop());

    const end = nowSeconds() - 5;
    const perMetric = 120;
    const { lines, expected } = signedReadings(device, perMetric, end, 1_000);
    queue.append(lines);
    shipper.start();

    // Restart the broker (SIGTERM: it saves its sessions and queued messages) while batches flow.
    await pollUntil(() => (shipper.status().shippedLines >= lines.length / 4 ? true : undefined), {
      what: "a quarter of the lines to be shipped",
      timeoutMs: 20_000,
      describe: () => JSON.stringify(shipper.status()),
    });
    await broker.restart();

    await pollUntil(() => (queue.stats().depth === 0 ? true : undefined), {
      what: "the buffer to empty",
      timeoutMs: 30_000,
      describe: () =>
        JSON.stringify(shipper.status()) + server.logs.text().slice(-5000) + broker.output().slice(-6000),
    });
    const status = shipper.status();
    assert.ok(status.shipErrors > 0, "the restart was felt: some sends had to be retried");
    await assertExactlyOnce(carbon, expected, end - perMetric, end);
    await pollUntil(async () => ((await accepted(server)) === lines.length ? true : undefined), {
      what: `the server to have accepted ${lines.length} lines`,
      describe: async () => `accepted: ${await accepted(server)}`,
    });
  });

  it("the broker keeps the lines for the server while it is away; none is lost or doubled", async (t) => {
    const carbon = await startCarbon({ t });
    const broker = await startMosquitto({ t, users: { ...USERS } });
    const device = makeTestDevice("grandma-pi");
    // The server subscribes once (creating its session), then goes away.
    const first = await startServer(t, carbon, broker, device);
    await first.close();

    const transport = new MqttTransport({
      url: broker.url,
      settings: { device: "grandma-pi", username: "grandma-pi", password: USERS["grandma-pi"] },
      timeoutMs: 5_000,
      reconnect: FAST_RECONNECT,
    });
    t.after(() => transport.close());
    const end = nowSeconds() - 5;
    const { lines, expected } = signedReadings(device, 40, end, 5_000);
    for (let index = 0; index < lines.length; index += 20) {
      const outcome = await transport.send(lines.slice(index, index + 20));
      assert.deepEqual(
        outcome,
        { kind: "delivered", accepted: 20, rejected: {} },
        "the server's session takes them",
      );
    }

    const second = await startServer(t, carbon, broker, device);
    await assertExactlyOnce(carbon, expected, end - 40, end);
    assert.equal(await accepted(second), lines.length);
  });

  it("lines over the device's rate hold the message back until they are taken, not dropped", async (t) => {
    const carbon = await startCarbon({ t });
    const broker = await startMosquitto({ t, users: { ...USERS } });
    const device = makeTestDevice("grandma-pi");
    const slow = device.authEntry.replace("rate: 1000", "rate: 20").replace("burst: 5000", "burst: 10");
    const server = await startTestServer({
      t,
      carbonPort: carbon.linePort,
      authText: `apikeys:\n${slow}`,
      flags: {
        listen: ["http://127.0.0.1:0"],
        "mqtt-url": broker.url,
        "mqtt-username": "server",
        "mqtt-password": USERS.server,
      },
    });
    await pollUntil(() => (server.logs.text().includes("mqtt: subscribed") ? true : undefined), {
      what: "the server's subscription",
    });
    const transport = new MqttTransport({
      url: broker.url,
      settings: { device: "grandma-pi", username: "grandma-pi", password: USERS["grandma-pi"] },
    });
    t.after(() => transport.close());
    const end = nowSeconds() - 5;
    const { lines, expected } = signedReadings(device, 15, end, 7_000);
    assert.equal((await transport.send(lines)).kind, "delivered");
    await assertExactlyOnce(carbon, expected, end - 15, end);
    assert.equal(await accepted(server), lines.length);
    const rateLimited = sample(await server.metrics(), "homeward_server_lines_rejected_total", {
      key: "grandma-pi",
      reason: "rate_limited_key",
    });
    assert.ok(rateLimited > 0, "the first tries were over the rate");
  });

  it("a batch nobody subscribes to is not delivered: the agent keeps it", async (t) => {
    const broker = await startMosquitto({ t, users: { ...USERS } });
    const device = makeTestDevice("grandma-pi");
    const transport = new MqttTransport({
      url: broker.url,
      settings: { device: "grandma-pi", username: "grandma-pi", password: USERS["grandma-pi"] },
      timeoutMs: 5_000,
    });
    t.after(() => transport.close());
    const { lines } = signedReadings(device, 1, nowSeconds(), 1);
    const outcome = await transport.send(lines);
    assert.equal(outcome.kind, "retry");
    assert.match(
      outcome.kind === "retry" ? outcome.why : "",
      /nobody subscribes to homeward\/grandma-pi\/lines/,
    );

    const wrongPassword = new MqttTransport({
      url: broker.url,
      settings: { device: "grandma-pi", username: "grandma-pi", password: "wrong" },
      timeoutMs: 2_000,
    });
    t.after(() => wrongPassword.close());
    const refused = await wrongPassword.send(lines);
    assert.equal(refused.kind, "fatal", JSON.stringify(refused));
  });
});
