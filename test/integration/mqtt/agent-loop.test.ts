// The MQTT pieces inside the agent's main loop (startAgent), into a real carbon-cache through the
// server: sensor messages from the home's broker, and a `homeward ctl set` that adds a probe target
// whose readings then appear in whisper.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ControlChannel } from "../../../agent/control/control-channel.ts";
import { loadAgentConfig } from "../../../agent/config/load.ts";
import { startAgent } from "../../../agent/main.ts";
import type { RunningAgent } from "../../../agent/main.ts";
import { createLogger } from "../../../runtime/log/logger.ts";
import { startCarbon } from "../../harness/carbon.ts";
import { createTestPki } from "../../harness/certs.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { startMosquitto } from "../../harness/mosquitto.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { runHomeward } from "../../support/cli.ts";
import { TASMOTA_SENSOR, ZIGBEE_SENSOR } from "../../unit/mqtt/sensor-payloads.ts";
import { LogCapture, startTestServer } from "../server/fixture.ts";
import { FAST_RECONNECT, makeTestDevice, TopicWatcher, USERS, writeEd25519Key } from "./fixture.ts";
import type { TestDevice } from "./fixture.ts";

const NO_BUILTIN_COLLECTORS = {
  system: { enabled: false },
  pi: { enabled: false },
  net: { enabled: false },
  self: { enabled: false },
} as const;

async function runAgent(
  t: { after: (fn: () => Promise<void>) => unknown },
  device: TestDevice,
  logs: LogCapture,
): Promise<RunningAgent> {
  const agent = await startAgent({
    loaded: loadAgentConfig({ configPath: device.configPath, stateDir: device.stateDir }),
    stateDir: device.stateDir,
    log: createLogger("logfmt", "debug", logs),
    env: {},
  });
  t.after(() => agent.stop());
  return agent;
}

describe("MQTT in the agent's main loop, into whisper", () => {
  it("Tasmota and Zigbee2MQTT messages on the home's broker become metrics in whisper", async (t) => {
    const carbon = await startCarbon({ t });
    const home = await startMosquitto({ t });
    const device = makeTestDevice("grandma-pi");
    const server = await startTestServer({
      t,
      carbonPort: carbon.linePort,
      authText: `apikeys:\n${device.authEntry}`,
    });
    device.writeConfig({
      server: { url: `http://127.0.0.1:${server.port("http")}` },
      clock: { sync_check: "none" },
      collect: NO_BUILTIN_COLLECTORS,
      mqtt: {
        url: home.url,
        schedule: "* * * * * *",
        subscriptions: [
          { topic: "tele/+/SENSOR", name: "tasmota" },
          {
            topic: "zigbee2mqtt/+",
            name: "zigbee",
            fields: { temperature: "temperature_c", humidity: "humidity_pct", battery: "battery_pct" },
          },
        ],
      },
    });
    const logs = new LogCapture();
    const started = nowSeconds();
    await runAgent(t, device, logs);

    // Sensors report on their own clock; keep reporting until the collector (connected on its first
    // run) has passed readings on.
    const sensors = await TopicWatcher.open(home.url, [], { t });
    const report = setInterval(() => {
      void sensors.publish("tele/living room/SENSOR", TASMOTA_SENSOR, { qos: 0 });
      void sensors.publish("zigbee2mqtt/Kitchen", ZIGBEE_SENSOR, { qos: 0 });
      void sensors.publish("zigbee2mqtt/bridge/state", '{"state":"online"}', { qos: 0 });
    }, 250);
    t.after(() => clearInterval(report));

    const prefix = "homeward.grandma-pi.mqtt";
    const expected: Record<string, number> = {
      "tasmota.living_room.AM2301.Temperature": 21.3,
      "tasmota.living_room.AM2301.Humidity": 45.1,
      "tasmota.living_room.AM2301.DewPoint": 9,
      "zigbee.Kitchen.temperature_c": 19.5,
      "zigbee.Kitchen.humidity_pct": 60,
      "zigbee.Kitchen.battery_pct": 97,
    };
    for (const [name, value] of Object.entries(expected)) {
      const points = await carbon.waitForPoints(`${prefix}.${name}`, (found) => found.length >= 2, {
        timeoutMs: 30_000,
        describe: () => logs.text().slice(-4000),
      });
      for (const [timestamp, stored] of points) {
        assert.equal(stored, value, name);
        assert.ok(
          timestamp >= started - 1 && timestamp <= nowSeconds() + 1,
          `${name}: timestamp ${timestamp}`,
        );
      }
    }
    const metrics = (await carbon.listMetrics()).filter((metric) => metric.startsWith(prefix));
    assert.deepEqual(
      metrics.sort(),
      Object.keys(expected)
        .map((name) => `${prefix}.${name}`)
        .sort(),
      "nothing else",
    );
  });

  it("`ctl set` adds a probe target live: its readings appear in whisper", async (t) => {
    const carbon = await startCarbon({ t });
    const pki = await createTestPki({ t });
    const broker = await startMosquitto({
      t,
      users: { ...USERS },
      tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.caFile },
    });
    const owner = writeEd25519Key(makeTempDir("owner"), "owner");
    const device = makeTestDevice("grandma-pi");
    const server = await startTestServer({
      t,
      carbonPort: carbon.linePort,
      authText: `apikeys:\n${device.authEntry}`,
    });
    device.writeConfig({
      server: { url: `http://127.0.0.1:${server.port("http")}` },
      clock: { sync_check: "none" },
      collect: {
        ...NO_BUILTIN_COLLECTORS,
        net: { schedule: "* * * * * *", gateway: false, wifi: false, probe_timeout: "1s" },
      },
      control: {
        url: broker.tlsUrl,
        ca_file: pki.caFile,
        username: "grandma-pi",
        password: USERS["grandma-pi"],
        owner_public_key: owner.publicKey,
      },
    });
    const logs = new LogCapture();
    const agent = await runAgent(t, device, logs);
    const loaded = loadAgentConfig({ configPath: device.configPath, stateDir: device.stateDir });
    const channel = await ControlChannel.start({
      loaded,
      onConfigChanged: (next) => agent.applyConfig(next),
      bufferDepth: () => agent.bufferDepth(),
      reconnect: FAST_RECONNECT,
      log: createLogger("logfmt", "debug", logs),
    });
    assert.ok(channel);
    t.after(() => channel.stop());
    assert.ok(await channel.whenConnected(10_000));

    const target = `127.0.0.1:${carbon.linePort}`;
    const metric = `homeward.grandma-pi.net.tcp.127_0_0_1:${carbon.linePort}.ok`;
    assert.ok(!(await carbon.listMetrics()).includes(metric));
    const result = await runHomeward(
      ["ctl", "set", "grandma-pi", `collect.net.tcp=["${target}"]`, "--key", owner.path, "--timeout", "10s"],
      {
        env: {
          HOMEWARD_MQTT_URL: broker.tlsUrl,
          HOMEWARD_MQTT_USERNAME: "owner",
          HOMEWARD_MQTT_PASSWORD: USERS.owner,
          HOMEWARD_MQTT_CA_FILE: pki.caFile,
        },
      },
    );
    assert.equal(result.code, 0, `${result.stdout}${result.stderr}`);
    assert.match(result.stdout, /set applied/);
    assert.deepEqual(
      agent.config().collect.net.tcp.map((entry) => `${entry.host}:${entry.port}`),
      [target],
    );

    const points = await carbon.waitForPoints(metric, (found) => found.length >= 2, {
      timeoutMs: 30_000,
      describe: () => logs.text().slice(-4000),
    });
    assert.ok(
      points.every(([, value]) => value === 1),
      JSON.stringify(points),
    );
    await carbon.waitForPoints(`homeward.grandma-pi.net.tcp.127_0_0_1:${carbon.linePort}.connect_ms`, 1);
  });
});
