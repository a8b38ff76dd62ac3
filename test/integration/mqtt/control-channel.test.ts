// The control plane against a real mosquitto: a TLS listener with a password file, the agent's
// control channel in this process, and the owner's `homeward ctl` run as the real CLI.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { ControlChannel } from "../../../agent/control/control-channel.ts";
import { loadAgentConfig } from "../../../agent/config/load.ts";
import type { LoadedAgentConfig } from "../../../agent/config/load.ts";
import { controlTopics, newNonce, signControlMessage } from "../../../protocol/control-message.ts";
import type { ConfigSnapshot, ControlMessage, DeviceStatus } from "../../../protocol/control-message.ts";
import { readKeyFile, signerForKey } from "../../../protocol/key-file.ts";
import { createTestPki } from "../../harness/certs.ts";
import type { TestPki } from "../../harness/certs.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { startMosquitto } from "../../harness/mosquitto.ts";
import type { Mosquitto } from "../../harness/mosquitto.ts";
import { pollUntil } from "../../harness/poll.ts";
import { runHomeward } from "../../support/cli.ts";
import {
  FAST_RECONNECT,
  makeTestDevice,
  RecordingLogger,
  TopicWatcher,
  USERS,
  writeEd25519Key,
} from "./fixture.ts";
import type { KeyPairFile, TestDevice } from "./fixture.ts";

/** Suite-wide resources, disposed (last first) after the suite: hooks' own after() would fire early. */
const cleanup: (() => Promise<void>)[] = [];
const hooks = { after: (fn: () => Promise<void>) => cleanup.push(fn) };
const topics = controlTopics("grandma-pi");

let pki: TestPki;
let broker: Mosquitto;
let device: TestDevice;
let ownerKey: KeyPairFile;
let strangerKey: KeyPairFile;
let channel: ControlChannel;
let watcher: TopicWatcher;
const applied: LoadedAgentConfig[] = [];
const log = new RecordingLogger();

function ctl(args: string[], key: string = ownerKey.path) {
  return runHomeward(["ctl", ...args, "--key", key, "--timeout", "8s"], {
    env: {
      HOMEWARD_MQTT_URL: broker.tlsUrl,
      HOMEWARD_MQTT_USERNAME: "owner",
      HOMEWARD_MQTT_PASSWORD: USERS.owner,
      HOMEWARD_MQTT_CA_FILE: pki.caFile,
    },
  });
}

/** A control message signed with the owner's key, published by the test (not through ctl). */
function signedByOwner(fields: Partial<ControlMessage>): string {
  const signer = signerForKey(readKeyFile(ownerKey.path));
  return signControlMessage(
    {
      v: 1,
      device: "grandma-pi",
      op: "update",
      body: { "log.level": "warn" },
      ts: Math.floor(Date.now() / 1000),
      nonce: newNonce(),
      ...fields,
    },
    signer,
  );
}

function overrides(): unknown {
  return JSON.parse(readFileSync(`${device.stateDir}/overrides.json`, "utf8"));
}

describe("control channel: TLS, passwords, signed messages, the real ctl", () => {
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
    const ownerDir = makeTempDir("owner");
    ownerKey = writeEd25519Key(ownerDir, "owner");
    strangerKey = writeEd25519Key(ownerDir, "stranger");
    device = makeTestDevice("grandma-pi");
    device.writeConfig({
      server: { url: "https://metrics.example.org" },
      collect: { net: { ping: ["192.168.1.1"], gateway: false, wifi: false } },
      control: {
        url: broker.tlsUrl,
        ca_file: pki.caFile,
        username: "grandma-pi",
        password: USERS["grandma-pi"],
        owner_public_key: ownerKey.publicKey,
        status_interval: "1s",
      },
    });
    watcher = await TopicWatcher.open(broker.url, [topics.status, topics.config], {
      username: "watcher",
      password: USERS.watcher,
      t: hooks,
    });
    const started = await ControlChannel.start({
      loaded: loadAgentConfig({ configPath: device.configPath, stateDir: device.stateDir }),
      onConfigChanged: (loaded) => {
        applied.push(loaded);
      },
      bufferDepth: () => 42,
      reconnect: FAST_RECONNECT,
      log,
    });
    assert.ok(started, "the config has a control section");
    channel = started;
    hooks.after(() => channel.stop());
  });

  it("connects over TLS with its password, and publishes its status and config (retained)", async () => {
    assert.ok(await channel.whenConnected(10_000), JSON.stringify(log.entries));
    const status = await watcher.waitFor<DeviceStatus>(
      topics.status,
      (message) => message.state === "online",
    );
    assert.ok(status.state === "online");
    assert.equal(status.buffer_depth, 42);
    assert.equal(typeof status.uptime_s, "number");
    const snapshot = await watcher.waitFor<ConfigSnapshot>(topics.config, () => true);
    const config = snapshot.config as { control: { password: string }; collect: { net: { ping: string[] } } };
    assert.equal(config.control.password, "<redacted>");
    assert.deepEqual(config.collect.net.ping, ["192.168.1.1"]);
    assert.ok(!JSON.stringify(watcher.received).includes(USERS["grandma-pi"]), "no password on the broker");
  });

  it("`ctl set` is applied live, saved, and the config snapshot republished", async () => {
    const configsBefore = watcher.count(topics.config);
    const result = await ctl([
      "set",
      "grandma-pi",
      'collect.net.ping=["1.1.1.1","127.0.0.1"]',
      "log.level=debug",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /grandma-pi: set applied/);
    assert.equal(applied.length, 1);
    const config = applied[0]?.config;
    assert.deepEqual(
      config?.collect.net.ping.map((target) => target.host),
      ["1.1.1.1", "127.0.0.1"],
    );
    assert.equal(config?.log.level, "debug");
    assert.deepEqual(overrides(), {
      collect: { net: { ping: ["1.1.1.1", "127.0.0.1"] } },
      log: { level: "debug" },
    });
    const snapshot = await watcher.waitFor<ConfigSnapshot>(
      topics.config,
      (message) => (message.config as { log?: { level?: string } }).log?.level === "debug",
      { from: configsBefore },
    );
    assert.deepEqual(snapshot.overrides, {
      collect: { net: { ping: ["1.1.1.1", "127.0.0.1"] } },
      log: { level: "debug" },
    });
  });

  it("`ctl get` prints the config; `ctl unset` removes an override", async () => {
    const got = await ctl(["get", "grandma-pi"]);
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stdout, /"1\.1\.1\.1"/);
    assert.match(got.stdout, /"password": "<redacted>"/);
    const json = await ctl(["get", "grandma-pi", "--json"]);
    assert.equal((JSON.parse(json.stdout) as ConfigSnapshot).device, "grandma-pi");

    const unset = await ctl(["unset", "grandma-pi", "log.level"]);
    assert.equal(unset.code, 0, unset.stderr);
    assert.deepEqual(overrides(), { collect: { net: { ping: ["1.1.1.1", "127.0.0.1"] } } });
    assert.equal(applied.at(-1)?.config.log.level, "info");
  });

  it("a change the schema refuses: `ctl set` exits 1 and says why; nothing changes", async () => {
    const before = overrides();
    const count = applied.length;
    const result = await ctl(["set", "grandma-pi", "collect.net.ping=not a host!"]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /refused \(bad_body\); nothing changed/);
    assert.match(result.stdout, /collect\/net\/ping/);
    const protectedKey = await ctl(["set", "grandma-pi", "control.url=mqtt://evil.example.org"]);
    assert.equal(protectedKey.code, 1);
    assert.match(protectedKey.stdout, /only be changed in the config file/);
    assert.deepEqual(overrides(), before);
    assert.equal(applied.length, count);
  });

  it("forged, stale and replayed messages change nothing, and are counted", async () => {
    const before = overrides();
    const count = applied.length;
    const rejectedBefore = channel.stats().rejected;

    const forged = await ctl(["set", "grandma-pi", 'collect.net.ping=["6.6.6.6"]'], strangerKey.path);
    assert.equal(forged.code, 1, "no answer to a forged message");
    assert.match(forged.stderr, /no answer from grandma-pi/);

    const stale = signedByOwner({
      ts: Math.floor(Date.now() / 1000) - 600,
      body: { "collect.net.ping": ["6.6.6.6"] },
    });
    await watcher.publish(topics.control, stale);

    const replyTo = topics.replyTo(newNonce());
    const first = signedByOwner({ body: { "clock.max_hold": "2h" }, reply_to: replyTo });
    await watcher.client.subscribeAsync(replyTo, { qos: 1 });
    await watcher.publish(topics.control, first);
    await watcher.waitFor(replyTo, (reply) => reply.ok === true);
    const afterFirst = overrides();
    const appliedAfterFirst = applied.length;
    await watcher.publish(topics.control, first);

    await watcher.publish(topics.control, JSON.stringify({ v: 1, op: "delete", device: "grandma-pi" }));

    const stats = await pollUntil(
      () => {
        const current = channel.stats();
        return current.rejected.replayed > rejectedBefore.replayed &&
          current.rejected.unsigned > rejectedBefore.unsigned
          ? current
          : undefined;
      },
      {
        what: "the replayed and unsigned messages to be counted",
        describe: () => JSON.stringify(channel.stats()),
      },
    );
    assert.equal(stats.rejected.bad_signature - rejectedBefore.bad_signature, 1);
    assert.equal(stats.rejected.stale - rejectedBefore.stale, 1);
    assert.equal(stats.rejected.replayed - rejectedBefore.replayed, 1);
    assert.equal(stats.rejected.unsigned - rejectedBefore.unsigned, 1);
    assert.deepEqual(overrides(), { ...(before as object), clock: { max_hold: "2h" } });
    assert.deepEqual(overrides(), afterFirst);
    assert.equal(applied.length, appliedAfterFirst);
    assert.equal(appliedAfterFirst, count + 1, "only the genuine message was applied");

    // The counts are published with the status, for the owner to see.
    const status = await watcher.waitFor<DeviceStatus & { control?: { rejected: Record<string, number> } }>(
      topics.status,
      (message) => message.state === "online" && (message.control?.rejected.replayed ?? 0) >= 1,
    );
    assert.ok(status.state === "online" && (status.control?.rejected.bad_signature ?? 0) >= 1);
    assert.ok(
      log.entries.some(
        (entry) => entry.level === "warn" && (entry.fields as { reason?: string }).reason === "bad_signature",
      ),
    );
  });

  it("`ctl devices` lists the device's presence", async () => {
    const result = await runHomeward(["ctl", "devices", "--timeout", "5s"], {
      env: {
        HOMEWARD_MQTT_URL: broker.tlsUrl,
        HOMEWARD_MQTT_USERNAME: "owner",
        HOMEWARD_MQTT_PASSWORD: USERS.owner,
        HOMEWARD_MQTT_CA_FILE: pki.caFile,
      },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^DEVICE\s+STATE\s+LAST SEEN\s+VERSION\s+UPTIME\s+BUFFERED$/m);
    assert.match(result.stdout, /^grandma-pi\s+online\s+\S+ ago\s+\d+\.\d+\.\d+\s+\d+s\s+42$/m);
  });

  it("usage: --help exits 0, mistakes exit 2, a wrong password exits 1", async () => {
    for (const args of [
      ["ctl", "--help"],
      ["ctl", "set", "--help"],
      ["ctl", "devices", "--help"],
    ]) {
      const help = await runHomeward(args);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /^Usage: homeward ctl/);
    }
    assert.equal((await runHomeward(["ctl"])).code, 2);
    assert.equal((await runHomeward(["ctl", "frobnicate"])).code, 2);
    assert.equal((await ctl(["set", "grandma-pi", "novalue"])).code, 2);
    assert.equal(
      (await runHomeward(["ctl", "get", "grandma-pi", "--key", ownerKey.path])).code,
      2,
      "no broker url",
    );
    const wrong = await runHomeward([
      "ctl",
      "devices",
      "--url",
      broker.url,
      "--username",
      "owner",
      "--password",
      "nope",
    ]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /cannot connect/);
  });
});
