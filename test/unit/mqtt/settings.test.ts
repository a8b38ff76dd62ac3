import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { controlSettings, mqttTransportSettings } from "../../../agent/control/settings.ts";
import { resolveAgentConfig } from "../../../agent/config/resolve.ts";
import type { AgentConfigFile } from "../../../agent/config/types.ts";
import { validateAgentConfig } from "../../../agent/config/validate.ts";
import { createTransport, TransportOptionsError } from "../../../agent/transports/index.ts";
import { parseAssignment } from "../../../bin/commands/ctl.ts";
import { ConfigError, resolveServerOptions } from "../../../server-stub/config.ts";

const KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const minimal: AgentConfigFile = {
  device: "grandma-pi",
  key_file: "/k",
  server: { url: "https://m.example.org" },
};

function problems(data: unknown): string[] {
  return validateAgentConfig(data).map((problem) => `${problem.path}: ${problem.message}`);
}

describe("config: control and mqtt sections", () => {
  it("accepts a full control section and an mqtt server url", () => {
    assert.deepEqual(
      problems({
        ...minimal,
        server: { url: "mqtts://broker.example.org:8883" },
        control: {
          url: "mqtts://broker.example.org:8883",
          username: "grandma-pi",
          password: "x",
          ca_file: "/etc/homeward/broker-ca.pem",
          owner_public_key: [KEY, KEY],
          max_skew: "2m",
          status_interval: "30s",
          keepalive: "45s",
          topic_prefix: "family/homeward",
        },
      }),
      [],
    );
  });

  it("says what is wrong", () => {
    assert.deepEqual(problems({ ...minimal, control: { url: "mqtt://b" } }), [
      "/control/owner_public_key: is required",
    ]);
    assert.deepEqual(problems({ ...minimal, control: { url: "mqtt://u:p@b", owner_public_key: "abc" } }), [
      "/control/url: expected an mqtt:// or mqtts:// URL without credentials: mqtts://broker.example.org:8883",
      "/control/owner_public_key: expected an ed25519 public key: 44 characters of base64 (homeward keygen prints it)",
    ]);
    assert.deepEqual(problems({ ...minimal, server: { url: "mqtt://b", transport: "https" } }), [
      "/server/transport: \"https\" contradicts the URL's mqtt://; the URL's scheme picks the transport, so drop this key or fix the URL",
    ]);
  });

  it("resolves the control settings with defaults", () => {
    const settings = controlSettings(
      resolveAgentConfig({ ...minimal, control: { url: "mqtt://127.0.0.1:1883", owner_public_key: KEY } }),
    );
    assert.deepEqual(settings, {
      device: "grandma-pi",
      broker: {
        url: "mqtt://127.0.0.1:1883",
        username: undefined,
        password: undefined,
        caFile: undefined,
        clientId: "homeward-grandma-pi",
        keepaliveSeconds: 60,
      },
      ownerPublicKeys: [KEY],
      topicPrefix: "homeward",
      maxSkewMs: 300_000,
      statusIntervalMs: 60_000,
    });
    assert.equal(controlSettings(resolveAgentConfig(minimal)), undefined);
    assert.equal(
      controlSettings(
        resolveAgentConfig({
          ...minimal,
          control: { url: "mqtt://b", owner_public_key: KEY, enabled: false },
        }),
      ),
      undefined,
    );
  });

  it("the mqtt transport takes the device's broker account from the control section", () => {
    const config = resolveAgentConfig({
      ...minimal,
      server: { url: "mqtts://b.example.org:8883" },
      control: { url: "mqtts://b.example.org:8883", username: "u", password: "p", owner_public_key: KEY },
    });
    assert.deepEqual(mqttTransportSettings(config), {
      device: "grandma-pi",
      topicPrefix: "homeward",
      username: "u",
      password: "p",
      clientId: "homeward-grandma-pi-lines",
    });
    const transport = createTransport({ url: config.server.url, mqtt: mqttTransportSettings(config) });
    assert.equal(transport.target, "mqtts://b.example.org:8883/homeward/grandma-pi/lines");
    assert.equal(transport.host, "b.example.org");
    assert.throws(() => createTransport({ url: "mqtt://b:1883" }), TransportOptionsError);
    assert.throws(
      () => createTransport({ url: "mqtt://u:p@b:1883", mqtt: { device: "x" } }),
      /not in the URL/,
    );
  });
});

describe("homeward ctl set: key=value", () => {
  it("parses values as JSON, else as strings", () => {
    assert.deepEqual(parseAssignment('collect.net.ping=["1.1.1.1"]'), ["collect.net.ping", ["1.1.1.1"]]);
    assert.deepEqual(parseAssignment("server.lines_per_second=20"), ["server.lines_per_second", 20]);
    assert.deepEqual(parseAssignment("log.level=debug"), ["log.level", "debug"]);
    assert.deepEqual(parseAssignment("a=b=c"), ["a", "b=c"]);
    assert.throws(() => parseAssignment("=x"), /key=value/);
    assert.throws(() => parseAssignment("novalue"), /key=value/);
  });
});

describe("homeward server --mqtt-*", () => {
  it("is off by default, and resolves the broker settings", () => {
    assert.equal(resolveServerOptions({}, {}).mqtt, undefined);
    const options = resolveServerOptions(
      { "mqtt-url": "mqtts://broker:8883", "mqtt-username": "server", "mqtt-ca-file": "/ca.pem" },
      { MQTT_PASSWORD: "pw" },
    );
    assert.deepEqual(options.mqtt, {
      url: "mqtts://broker:8883",
      clientId: options.mqtt?.clientId,
      topic: "$share/homeward/homeward/+/lines",
      username: "server",
      password: "pw",
      caFile: "/ca.pem",
    });
    assert.match(options.mqtt?.clientId ?? "", /^homeward-server-/);
    assert.throws(() => resolveServerOptions({ "mqtt-url": "http://broker" }, {}), ConfigError);
    assert.throws(() => resolveServerOptions({ "mqtt-url": "mqtt://u:p@broker" }, {}), ConfigError);
  });
});
