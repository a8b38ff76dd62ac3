// The harness that other integration tests stand on: a real carbon-cache and a real mosquitto.
// If these fail, nothing built on them can be trusted.
import assert from "node:assert/strict";
import { test } from "node:test";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { startCarbon } from "../harness/carbon.ts";
import { createTestPki } from "../harness/certs.ts";
import { startMosquitto } from "../harness/mosquitto.ts";
import { canConnect } from "../harness/process.ts";
import { nowSeconds, type Point } from "../harness/whisper.ts";

const DAY = 86_400;

test("carbon-cache stores plain lines with exact values and timestamps", async (t) => {
  const carbon = await startCarbon({ t });
  const now = nowSeconds();
  const sent: Record<string, Point[]> = {
    "homeward.harness.load1": [[now - 5, 0.42]],
    "homeward.harness.negative": [[now - 4, -1.5e-3]],
    "homeward.harness.series": [
      [now - 30, 1],
      [now - 20, 2.5],
      [now - 10, 123456789.125],
    ],
    // Buffered offline data is old by design: 3 days, and almost the server's 7-day max_age.
    "homeward.harness.three_days_old": [[now - 3 * DAY - 17, 17.25]],
    "homeward.harness.six_days_old": [[now - 6 * DAY - 3599, -40]],
  };
  await carbon.sendLines(
    Object.entries(sent).flatMap(([metric, points]) =>
      points.map(([ts, value]) => `${metric} ${value} ${ts}`),
    ),
  );

  for (const [metric, points] of Object.entries(sent)) {
    await carbon.waitForPoints(metric, points);
    const timestamps = points.map(([ts]) => ts);
    const stored = await carbon.fetchPoints(metric, {
      from: Math.min(...timestamps) - 60,
      until: Math.max(...timestamps) + 60,
    });
    assert.deepEqual(stored, points, metric);
  }
  assert.deepEqual(await carbon.listMetrics(), Object.keys(sent).sort());
});

test("with a coarse second archive, old points land there floored to its step", async (t) => {
  const carbon = await startCarbon({ t, retentions: "1s:1h,60s:10d" });
  const now = nowSeconds();
  const old = now - 3 * DAY - 17;
  const recent = now - 5;
  await carbon.sendLines([`homeward.harness.mixed 0.42 ${recent}`, `homeward.harness.mixed -1.5e-3 ${old}`]);

  // A range inside the first archive reads it: second resolution.
  await carbon.waitForPoints("homeward.harness.mixed", [[recent, 0.42]]);
  // A range reaching past the first archive reads the second one for the whole range: the old point
  // sits at the start of its minute, and the recent one shows as its (one-point) minute average.
  const floor = (ts: number): number => ts - (ts % 60);
  const coarse = await carbon.waitForPoints("homeward.harness.mixed", 2, { from: old - 60, until: now });
  assert.deepEqual(coarse, [
    [floor(old), -1.5e-3],
    [floor(recent), 0.42],
  ]);
});

test("carbon-cache stopped and started again keeps its ports and storage", async (t) => {
  const carbon = await startCarbon({ t });
  const { linePort } = carbon;
  const now = nowSeconds();
  const before: Point = [now - 3 * DAY, 1.5];
  await carbon.sendLines([`homeward.harness.restart ${before[1]} ${before[0]}`]);
  await carbon.waitForPoints("homeward.harness.restart", [before]);

  await carbon.stop();
  assert.equal(carbon.isRunning(), false);
  assert.equal(await canConnect(linePort), false, "the line port is closed while carbon is down");

  await carbon.start();
  assert.equal(carbon.linePort, linePort);
  const after: Point = [now - 2, -0.25];
  await carbon.sendLines([
    `homeward.harness.restart ${after[1]} ${after[0]}`,
    `homeward.harness.new 7 ${now - 1}`,
  ]);
  await carbon.waitForPoints("homeward.harness.restart", [before, after], { from: before[0], until: now });
  await carbon.waitForPoints("homeward.harness.new", [[now - 1, 7]]);

  // stop() flushes first: a point sent just before it is not lost with carbon's cache.
  await carbon.sendLines([`homeward.harness.last 3 ${now - 1}`]);
  await carbon.restart();
  assert.deepEqual(await carbon.fetchPoints("homeward.harness.last", { from: now - 60, until: now }), [
    [now - 1, 3],
  ]);
  assert.deepEqual(await carbon.listMetrics(), [
    "homeward.harness.last",
    "homeward.harness.new",
    "homeward.harness.restart",
  ]);
});

async function connectClient(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...options });
}

/** The payload of the next message on `topic`; rejects after 5 s. */
function nextMessage(client: MqttClient, topic: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const onMessage = (received: string, payload: Buffer): void => {
      if (received !== topic) return;
      clearTimeout(timer);
      client.off("message", onMessage);
      resolve(payload.toString("utf8"));
    };
    const timer = setTimeout(() => {
      client.off("message", onMessage);
      reject(new Error(`no message on ${topic} within 5 s`));
    }, 5_000);
    client.on("message", onMessage);
  });
}

test("mosquitto delivers publishes and keeps retained and queued QoS 1 messages across a restart", async (t) => {
  const broker = await startMosquitto({ t });
  // A persistent session (clean: false) whose QoS 1 messages the broker queues while it is away.
  const sessionOptions: IClientOptions = { clientId: "harness-server", clean: false };
  const subscriber = await connectClient(broker.url, sessionOptions);
  t.after(() => subscriber.endAsync());
  const publisher = await connectClient(broker.url);
  t.after(() => publisher.endAsync());

  await subscriber.subscribeAsync("homeward/harness/+/lines", { qos: 1 });
  const received = nextMessage(subscriber, "homeward/harness/pi/lines");
  await publisher.publishAsync("homeward/harness/pi/lines", "a.b 1 2 key sig", { qos: 1 });
  assert.equal(await received, "a.b 1 2 key sig");

  await subscriber.endAsync();
  await publisher.publishAsync("homeward/harness/pi/lines", "queued while away", { qos: 1 });
  await publisher.publishAsync("homeward/harness/pi/status", "online", { qos: 1, retain: true });
  await publisher.endAsync();
  const { port } = broker;
  await broker.restart();
  assert.equal(broker.port, port);

  // Listen before the CONNACK: queued messages may arrive in the same read.
  const returning = mqtt.connect(broker.url, { ...sessionOptions, reconnectPeriod: 0 });
  t.after(() => returning.endAsync());
  const queued = nextMessage(returning, "homeward/harness/pi/lines");
  assert.equal(await queued, "queued while away");

  const late = await connectClient(broker.url);
  t.after(() => late.endAsync());
  const retained = nextMessage(late, "homeward/harness/pi/status");
  await late.subscribeAsync("homeward/harness/pi/status", { qos: 1 });
  assert.equal(await retained, "online");
});

test("mosquitto with a password file refuses wrong passwords and anonymous clients", async (t) => {
  const broker = await startMosquitto({ t, users: { owner: "correct horse", "grandma-pi": "s3cret" } });

  const good = await connectClient(broker.url, { username: "grandma-pi", password: "s3cret" });
  t.after(() => good.endAsync());
  assert.equal(good.connected, true);

  await assert.rejects(
    connectClient(broker.url, { username: "grandma-pi", password: "wrong" }),
    (error: unknown) => {
      assert.equal((error as { code?: number }).code, 5, String(error)); // 5: not authorized
      return true;
    },
  );
  await assert.rejects(connectClient(broker.url), (error: unknown) => {
    assert.equal((error as { code?: number }).code, 5, String(error));
    return true;
  });
});

test("mosquitto's TLS listener verifies against the test CA and can require client certificates", async (t) => {
  const pki = await createTestPki({ t, clientNames: ["grandma-pi"] });
  const broker = await startMosquitto({
    t,
    tls: {
      certFile: pki.server.certFile,
      keyFile: pki.server.keyFile,
      caFile: pki.caFile,
      requireCertificate: true,
    },
  });
  assert.ok(broker.tlsUrl);
  const client = pki.clients["grandma-pi"];
  assert.ok(client);

  const secure = await connectClient(broker.tlsUrl, { ca: pki.ca, cert: client.cert, key: client.key });
  t.after(() => secure.endAsync());
  await secure.subscribeAsync("homeward/harness/tls", { qos: 1 });
  const received = nextMessage(secure, "homeward/harness/tls");
  await secure.publishAsync("homeward/harness/tls", "over tls", { qos: 1 });
  assert.equal(await received, "over tls");

  await assert.rejects(connectClient(broker.tlsUrl, { ca: pki.ca }), /certificate required/);
  await assert.rejects(
    connectClient(broker.tlsUrl, { cert: client.cert, key: client.key }),
    /self[- ]signed|unable to (get|verify)/i,
    "server certificate not trusted without the test CA",
  );
});
