// Presence against a real mosquitto (TLS, password file): the retained status, the `offline` last
// will when the device's connection dies, and reconnecting after a broker restart.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { ControlChannel } from "../../../agent/control/control-channel.ts";
import { loadAgentConfig } from "../../../agent/config/load.ts";
import type { LoadedAgentConfig } from "../../../agent/config/load.ts";
import { controlTopics } from "../../../protocol/control-message.ts";
import type { DeviceStatus } from "../../../protocol/control-message.ts";
import { createTestPki } from "../../harness/certs.ts";
import type { TestPki } from "../../harness/certs.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { startMosquitto } from "../../harness/mosquitto.ts";
import type { Mosquitto } from "../../harness/mosquitto.ts";
import { runHomeward } from "../../support/cli.ts";
import {
  FAST_RECONNECT,
  makeTestDevice,
  RecordingLogger,
  TcpRelay,
  TopicWatcher,
  USERS,
  writeEd25519Key,
} from "./fixture.ts";
import type { KeyPairFile, TestDevice } from "./fixture.ts";

const cleanup: (() => Promise<void>)[] = [];
const hooks = { after: (fn: () => Promise<void>) => cleanup.push(fn) };
const topics = controlTopics("grandma-pi");

let pki: TestPki;
let broker: Mosquitto;
let relay: TcpRelay;
let device: TestDevice;
let ownerKey: KeyPairFile;
let channel: ControlChannel;
let watcher: TopicWatcher;
const applied: LoadedAgentConfig[] = [];
const log = new RecordingLogger();

const isOnline = (status: DeviceStatus): boolean => status.state === "online";

describe("presence: status, last will, broker restart", () => {
  after(async () => {
    for (const dispose of cleanup.reverse()) await dispose();
  });
  before(async () => {
    pki = await createTestPki({ t: hooks });
    broker = await startMosquitto({
      t: hooks,
      users: { ...USERS },
      tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.caFile },
    });
    relay = await TcpRelay.start(broker.tlsPort as number, hooks);
    ownerKey = writeEd25519Key(makeTempDir("owner"), "owner");
    device = makeTestDevice("grandma-pi");
    device.writeConfig({
      server: { url: "https://metrics.example.org" },
      control: {
        // Through the relay, which the test can cut like a flaky uplink.
        url: `mqtts://127.0.0.1:${relay.port}`,
        ca_file: pki.caFile,
        username: "grandma-pi",
        password: USERS["grandma-pi"],
        owner_public_key: ownerKey.publicKey,
        status_interval: "1s",
        keepalive: "5s",
      },
    });
    watcher = await TopicWatcher.open(broker.url, [topics.status], {
      username: "watcher",
      password: USERS.watcher,
      t: hooks,
    });
    const started = await ControlChannel.start({
      loaded: loadAgentConfig({ configPath: device.configPath, stateDir: device.stateDir }),
      onConfigChanged: (loaded) => {
        applied.push(loaded);
      },
      bufferDepth: () => 0,
      reconnect: FAST_RECONNECT,
      log,
    });
    assert.ok(started);
    channel = started;
    hooks.after(() => channel.stop());
  });

  it("is online, refreshed periodically", async () => {
    const first = await watcher.waitFor<DeviceStatus>(topics.status, isOnline);
    const from = watcher.count(topics.status);
    const next = await watcher.waitFor<DeviceStatus>(topics.status, isOnline, { from });
    assert.ok(first.state === "online" && next.state === "online" && next.ts >= first.ts);
  });

  it("goes offline (the last will) when its connection dies, and online again when it reconnects", async () => {
    relay.block();
    const from = watcher.count(topics.status);
    relay.sever();
    const offline = await watcher.waitFor<DeviceStatus>(
      topics.status,
      (status) => status.state === "offline",
      { from },
    );
    assert.ok(offline.state === "offline");
    assert.equal(offline.reason, "connection lost");
    assert.equal(typeof offline.connected_at, "number");

    // Retained: someone asking now is told the device is offline.
    const late = await TopicWatcher.open(broker.url, [topics.status], {
      username: "watcher",
      password: USERS.watcher,
      t: hooks,
    });
    const retained = await late.waitFor<DeviceStatus>(topics.status, () => true);
    assert.equal(retained.state, "offline");
    assert.ok(late.received.every((message) => message.retained));

    const offlineAt = watcher.count(topics.status);
    relay.unblock();
    const online = await watcher.waitFor<DeviceStatus>(topics.status, isOnline, {
      from: offlineAt,
      timeoutMs: 15_000,
    });
    assert.ok(online.state === "online");
  });

  it("reconnects after a broker restart: online again, and control keeps working", async () => {
    const before = watcher.messages<DeviceStatus>(topics.status).filter(isOnline).at(-1);
    assert.ok(before?.state === "online");
    await broker.restart();

    // A retained message survives the restart (mosquitto saves it); a fresh one comes once the
    // device is back.
    const afterRestart = await TopicWatcher.open(broker.url, [topics.status], {
      username: "watcher",
      password: USERS.watcher,
      t: hooks,
    });
    await afterRestart.waitFor<DeviceStatus>(topics.status, () => true, {
      what: "the retained status after the restart",
    });
    const fresh = await afterRestart.waitFor<DeviceStatus>(
      topics.status,
      (status) => status.state === "online" && status.ts > before.ts,
      { timeoutMs: 20_000, what: "a fresh online status after the restart" },
    );
    assert.ok(fresh.state === "online");
    assert.ok(await channel.whenConnected(1_000));

    const result = await runHomeward(
      [
        "ctl",
        "set",
        "grandma-pi",
        'collect.net.ping=["9.9.9.9"]',
        "--key",
        ownerKey.path,
        "--timeout",
        "10s",
      ],
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
    assert.deepEqual(
      applied.at(-1)?.config.collect.net.ping.map((target) => target.host),
      ["9.9.9.9"],
    );
    assert.deepEqual(JSON.parse(readFileSync(`${device.stateDir}/overrides.json`, "utf8")), {
      collect: { net: { ping: ["9.9.9.9"] } },
    });
  });

  it("says `offline (stopped)` when it stops cleanly, and the will does not override it", async () => {
    const from = watcher.count(topics.status);
    await channel.stop();
    const stopped = await watcher.waitFor<DeviceStatus>(
      topics.status,
      (status) => status.state === "offline",
      { from },
    );
    assert.ok(stopped.state === "offline");
    assert.equal(stopped.reason, "stopped");
    assert.equal(typeof stopped.ts, "number");
    // The broker handles the device's disconnect before this later message: had it published the
    // will, the watcher would have it by the time the marker arrives.
    await watcher.client.subscribeAsync("homeward/marker", { qos: 1 });
    await watcher.publish("homeward/marker", JSON.stringify({ marker: true }));
    await watcher.waitFor("homeward/marker", () => true, { what: "the marker" });
    const last = watcher.messages<DeviceStatus>(topics.status).at(-1);
    assert.ok(last?.state === "offline" && last.reason === "stopped", JSON.stringify(last));
  });
});
