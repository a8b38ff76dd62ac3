// amproxy's mode: an hmac key (a shared secret) and its plain line protocol over tcp. The agent
// ships through the server's amproxy-compatible tcp listener into Carbon.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startCarbon } from "../../harness/carbon.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { DESIGN_AUTH_FILE, sample, startTestServer } from "../server/fixture.ts";
import { ONLY_EXEC, makeDevice, spawnAgent, writeExecScript } from "./fixture.ts";

test("in hmac mode over tcp, the agent ships through the amproxy-compatible listener", async (t) => {
  const carbon = await startCarbon({ t });
  const device = makeDevice("amproxy-pi", { algorithm: "hmac" });
  assert.match(device.authEntry, /secret_key: /);
  const server = await startTestServer({
    t,
    carbonPort: carbon.linePort,
    authText: `${DESIGN_AUTH_FILE}${device.authEntry}`,
  });
  const fixedTimestamp = nowSeconds() - 600;
  const script = writeExecScript(device.dir, ["tank.level_pct 73.5", `meter.m3 812.25 ${fixedTimestamp}`]);
  device.writeConfig({
    server: { url: `tcp://127.0.0.1:${server.port("tcp")}` },
    clock: { sync_check: "none" },
    collect: {
      ...ONLY_EXEC,
      self: { schedule: "*/2 * * * * *" },
      exec: [{ name: "well", command: [script], schedule: "* * * * * *" }],
    },
  });
  const started = nowSeconds();
  const agent = spawnAgent(device, t);
  const prefix = `homeward.${device.name}`;
  const describe = (): string => `agent output:\n${agent.output()}`;

  const levels = await carbon.waitForPoints(`${prefix}.exec.well.tank.level_pct`, 2, {
    from: started - 1,
    timeoutMs: 30_000,
    describe,
  });
  for (const [timestamp, value] of levels) {
    assert.equal(value, 73.5);
    assert.ok(timestamp >= started - 1 && timestamp <= nowSeconds());
  }
  await carbon.waitForPoints(`${prefix}.exec.well.meter.m3`, [[fixedTimestamp, 812.25]], { describe });
  await carbon.waitForPoints(`${prefix}.self.buffer.depth`, 1, { describe });
  const stopped = await agent.stop();
  assert.equal(stopped.code, 0, agent.output());

  assert.ok(agent.output().includes(`target=tcp://127.0.0.1:${server.port("tcp")}`), describe());
  const metrics = await server.metrics();
  assert.ok(sample(metrics, "homeward_server_verifications_total", { algorithm: "hmac" }) > 0);
  assert.equal(sample(metrics, "homeward_server_verifications_total", { algorithm: "ed25519" }), 0);
  assert.ok(sample(metrics, "homeward_server_lines_accepted_total", { key: device.name }) > 0);
  assert.ok(
    (await carbon.listMetrics()).every((name) => name.startsWith(`${prefix}.`)),
    "nothing outside the device's prefix",
  );
});
