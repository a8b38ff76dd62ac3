import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  matchTopic,
  mqttInputSettings,
  numericLeaves,
  readingsFromMessage,
} from "../../../agent/collectors/mqtt.ts";
import type { MqttRule } from "../../../agent/collectors/mqtt.ts";
import { resolveAgentConfig } from "../../../agent/config/resolve.ts";
import type { AgentConfigFile } from "../../../agent/config/types.ts";
import { TASMOTA_SENSOR, ZIGBEE_SENSOR } from "./sensor-payloads.ts";

function rule(topic: string, name: string, fields: MqttRule["fields"] = "all"): MqttRule {
  return { topic, name, fields };
}

function byName(readings: { name: string; value: number }[]): Record<string, number> {
  return Object.fromEntries(readings.map((reading) => [reading.name, reading.value]));
}

describe("mqtt input: topics", () => {
  it("captures what the wildcards matched", () => {
    assert.deepEqual(matchTopic("tele/+/SENSOR", "tele/living_room/SENSOR"), ["living_room"]);
    assert.deepEqual(matchTopic("zigbee2mqtt/+", "zigbee2mqtt/Kitchen sensor"), ["Kitchen sensor"]);
    assert.deepEqual(matchTopic("home/#", "home/a/b"), ["a", "b"]);
    assert.deepEqual(matchTopic("home/#", "home"), []);
    assert.deepEqual(matchTopic("a/b", "a/b"), []);
    assert.equal(matchTopic("tele/+/SENSOR", "tele/x/STATE"), undefined);
    assert.equal(matchTopic("zigbee2mqtt/+", "zigbee2mqtt/bridge/devices"), undefined);
    assert.equal(matchTopic("+/x", "$SYS/x"), undefined);
    assert.equal(matchTopic("#", "$SYS/broker/uptime"), undefined);
  });
});

describe("mqtt input: payloads", () => {
  it("Tasmota: every numeric field under the device's segment", () => {
    const readings = readingsFromMessage(rule("tele/+/SENSOR", "tasmota"), ["living room"], TASMOTA_SENSOR);
    assert.deepEqual(byName(readings), {
      "tasmota.living_room.AM2301.Temperature": 21.3,
      "tasmota.living_room.AM2301.Humidity": 45.1,
      "tasmota.living_room.AM2301.DewPoint": 9,
    });
  });

  it("Zigbee2MQTT: chosen fields renamed, booleans as 0/1", () => {
    const fields = new Map([
      ["temperature", "temperature_c"],
      ["humidity", "humidity_pct"],
      ["battery", "battery_pct"],
      ["contact", "contact"],
      ["missing", "never"],
    ]);
    const readings = readingsFromMessage(
      rule("zigbee2mqtt/+", "zigbee", fields),
      ["Kitchen sensor"],
      ZIGBEE_SENSOR,
    );
    assert.deepEqual(byName(readings), {
      "zigbee.Kitchen_sensor.temperature_c": 19.5,
      "zigbee.Kitchen_sensor.humidity_pct": 60,
      "zigbee.Kitchen_sensor.battery_pct": 97,
      "zigbee.Kitchen_sensor.contact": 1,
    });
    const all = byName(readingsFromMessage(rule("zigbee2mqtt/+", "zigbee"), ["k"], ZIGBEE_SENSOR));
    assert.equal(all["zigbee.k.linkquality"], 120);
    assert.equal(all["zigbee.k.update.state"], undefined, "strings are not readings");
  });

  it("plain payloads: numbers, ON/OFF, true/false; nothing else", () => {
    const plain = (payload: string) =>
      byName(readingsFromMessage(rule("home/+/temp", "home"), ["attic"], payload));
    assert.deepEqual(plain(" 21.5\n"), { "home.attic": 21.5 });
    assert.deepEqual(plain("-3e2"), { "home.attic": -300 });
    assert.deepEqual(plain("ON"), { "home.attic": 1 });
    assert.deepEqual(plain("false"), { "home.attic": 0 });
    assert.deepEqual(plain("Online"), {});
    assert.deepEqual(plain("NaN"), {});
    assert.deepEqual(plain("{broken"), {});
    assert.deepEqual(byName(readingsFromMessage(rule("#", ""), [], "7")), { value: 7 });
  });

  it("arrays by index, a depth limit", () => {
    assert.deepEqual(
      [...numericLeaves('{"ENERGY":{"Voltage":[230,231]}}')],
      [
        ["ENERGY.Voltage.0", 230],
        ["ENERGY.Voltage.1", 231],
      ],
    );
    assert.deepEqual([...numericLeaves('{"a":{"b":{"c":1}}}', 2)], []);
  });
});

describe("mqtt input: settings", () => {
  const file: AgentConfigFile = {
    device: "grandma-pi",
    key_file: "/k",
    server: { url: "https://m.example.org" },
    mqtt: {
      url: "mqtt://192.168.1.10:1883",
      subscriptions: [
        { topic: "tele/+/SENSOR" },
        { topic: "zigbee2mqtt/+", name: "zigbee", fields: ["temperature"] },
        { topic: "+/x", fields: { a: "b" } },
      ],
    },
  };

  it("resolves names, fields and defaults", () => {
    const settings = mqttInputSettings(resolveAgentConfig(file));
    assert.ok(settings);
    assert.equal(settings.schedule, "*/10 * * * * *");
    assert.equal(settings.broker.clientId, "homeward-grandma-pi-input");
    assert.deepEqual(
      settings.rules.map((entry) => [entry.name, entry.fields === "all" ? "all" : [...entry.fields]]),
      [
        ["tele", "all"],
        ["zigbee", [["temperature", "temperature"]]],
        ["", [["a", "b"]]],
      ],
    );
  });

  it("none without the section, or when disabled", () => {
    assert.equal(mqttInputSettings(resolveAgentConfig({ ...file, mqtt: undefined })), undefined);
    const disabled = { ...file, mqtt: { ...file.mqtt, enabled: false } } as AgentConfigFile;
    assert.equal(mqttInputSettings(resolveAgentConfig(disabled)), undefined);
  });
});
