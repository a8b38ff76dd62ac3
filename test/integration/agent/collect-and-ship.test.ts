import assert from "node:assert/strict";
import { test } from "node:test";
import { startCarbon } from "../../harness/carbon.ts";
import { pollUntil } from "../../harness/poll.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { DESIGN_AUTH_FILE, startTestServer } from "../server/fixture.ts";
import { makeDevice, spawnAgent, writeExecScript } from "./fixture.ts";

test("a device's collectors land in whisper under its prefix, exec values exactly", async (t) => {
  const carbon = await startCarbon({ t });
  const device = makeDevice("test-pi");
  const server = await startTestServer({
    t,
    carbonPort: carbon.linePort,
    authText: `${DESIGN_AUTH_FILE}${device.authEntry}`,
  });
  const fixedTimestamp = nowSeconds() - 3600;
  const script = writeExecScript(device.dir, [
    "boiler.temp_c 61.25",
    "boiler.pressure_bar -0.5",
    `meter.kwh 1234.5 ${fixedTimestamp}`,
    "this line is not a reading",
  ]);
  device.writeConfig({
    server: { url: `http://127.0.0.1:${server.port("http")}` },
    clock: { sync_check: "none" },
    collect: {
      system: { schedule: "*/2 * * * * *" },
      pi: { enabled: false },
      self: { schedule: "*/2 * * * * *" },
      exec: [{ name: "house", command: [script], schedule: "* * * * * *" }],
    },
  });
  const started = nowSeconds();
  const agent = spawnAgent(device, t);
  const prefix = `homeward.${device.name}`;

  const temps = await carbon.waitForPoints(
    `${prefix}.exec.house.boiler.temp_c`,
    (points) => points.length >= 2,
    {
      timeoutMs: 30_000,
      describe: () => agent.output(),
    },
  );
  for (const [timestamp, value] of temps) {
    assert.equal(value, 61.25);
    assert.ok(
      timestamp >= started - 1 && timestamp <= nowSeconds() + 1,
      `timestamp ${timestamp} is not from this run`,
    );
  }
  const pressure = await carbon.waitForPoints(
    `${prefix}.exec.house.boiler.pressure_bar`,
    (points) => points.length >= 1,
  );
  assert.ok(pressure.every(([, value]) => value === -0.5));
  const meter = await carbon.waitForPoints(`${prefix}.exec.house.meter.kwh`, 1, {
    from: fixedTimestamp - 10,
  });
  assert.deepEqual(meter, [[fixedTimestamp, 1234.5]]);

  const metrics = await pollUntil(
    async () => {
      const names = await carbon.listMetrics();
      const ours = names.filter((name) => name.startsWith(`${prefix}.`));
      return ours.some((name) => name.startsWith(`${prefix}.system.`)) &&
        ours.some((name) => name.startsWith(`${prefix}.self.`))
        ? ours
        : undefined;
    },
    { what: "system and self metrics in whisper", timeoutMs: 30_000 },
  );
  for (const expected of ["system.load.1m", "system.uptime_s", "self.buffer.depth"]) {
    assert.ok(metrics.includes(`${prefix}.${expected}`), `${expected} missing from:\n${metrics.join("\n")}`);
  }
  assert.ok(metrics.every((name) => name.startsWith(`${prefix}.`)));

  const stopped = await agent.stop();
  assert.equal(stopped.code, 0, agent.output());
});
