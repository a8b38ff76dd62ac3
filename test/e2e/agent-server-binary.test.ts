// The built binaries run the agent and the server end to end against a real carbon-cache: the x64
// one natively (the same checks as test/integration/agent/collect-and-ship.test.ts), the arm64 one
// under qemu-aarch64-static (an agent shipping readings through the x64 server).
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { startCarbon } from "../harness/carbon.ts";
import type { Carbon } from "../harness/carbon.ts";
import { makeTempDir } from "../harness/cleanup.ts";
import { freePorts, LOOPBACK } from "../harness/free-port.ts";
import { pollUntil } from "../harness/poll.ts";
import { spawnSupervised, waitForListening } from "../harness/process.ts";
import type { SupervisedProcess } from "../harness/process.ts";
import { nowSeconds } from "../harness/whisper.ts";
import { makeDevice, writeExecScript } from "../integration/agent/fixture.ts";
import type { AgentDevice } from "../integration/agent/fixture.ts";
import { DESIGN_AUTH_FILE } from "../integration/server/fixture.ts";
import { commandFor, ensureArm64Sysroot, ensureBinaries, hasCommand, QEMU } from "./support/binaries.ts";
import type { Target } from "./support/binaries.ts";

interface BinaryServer {
  readonly proc: SupervisedProcess;
  readonly httpPort: number;
  readonly tcpPort: number;
}

/** `homeward server` from the x64 binary, with an auth file holding `devices`. */
async function startBinaryServer(carbon: Carbon, devices: readonly AgentDevice[]): Promise<BinaryServer> {
  const dir = makeTempDir("e2e-server");
  const authFile = join(dir, "auth_file.yaml");
  writeFileSync(authFile, `${DESIGN_AUTH_FILE}${devices.map((device) => device.authEntry).join("")}`);
  const [httpPort, tcpPort, metricsPort] = (await freePorts(3)) as [number, number, number];
  const stateDir = join(dir, "state");
  mkdirSync(stateDir);
  const proc = spawnSupervised(
    ...commandFor("linux-x64", [
      "server",
      "--auth-file",
      authFile,
      "--carbon-addr",
      `${LOOPBACK}:${carbon.linePort}`,
      "--listen",
      `http://${LOOPBACK}:${httpPort}`,
      "--listen",
      `tcp://${LOOPBACK}:${tcpPort}`,
      "--metrics-addr",
      `${LOOPBACK}:${metricsPort}`,
      "--state-dir",
      stateDir,
      "--stats-interval",
      "0",
    ]),
    { name: "homeward-server (x64 binary)", env: { ...process.env, ADDR: "", LISTEN: "" } },
  );
  await waitForListening(proc, [httpPort, tcpPort, metricsPort], 30_000);
  return { proc, httpPort, tcpPort };
}

/** carbon.waitForPoints, with the agent's and the server's output in the error when it times out. */
async function waitForPoints(
  carbon: Carbon,
  metric: string,
  expected: Parameters<Carbon["waitForPoints"]>[1],
  options: Parameters<Carbon["waitForPoints"]>[2] & { outputs: () => string },
): ReturnType<Carbon["waitForPoints"]> {
  try {
    return await carbon.waitForPoints(metric, expected, options);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${options.outputs()}`, { cause: error });
  }
}

function spawnBinaryAgent(target: Target, device: AgentDevice): SupervisedProcess {
  return spawnSupervised(
    ...commandFor(target, ["agent", "--config", device.configFile, "--state-dir", device.stateDir]),
    { name: `homeward agent (${target} binary)` },
  );
}

describe("the x64 binary runs the agent and the server end to end", () => {
  before(() => ensureBinaries());

  it("a device's collectors land in whisper under its prefix, exec values exactly", async (t) => {
    const carbon = await startCarbon({ t });
    const device = makeDevice("e2e-x64-pi");
    const server = await startBinaryServer(carbon, [device]);
    t.after(async () => {
      await server.proc.kill();
    });
    const fixedTimestamp = nowSeconds() - 3600;
    const script = writeExecScript(device.dir, [
      "boiler.temp_c 61.25",
      "boiler.pressure_bar -0.5",
      `meter.kwh 1234.5 ${fixedTimestamp}`,
      "this line is not a reading",
    ]);
    device.writeConfig({
      server: { url: `http://${LOOPBACK}:${server.httpPort}` },
      clock: { sync_check: "none" },
      collect: {
        system: { schedule: "*/2 * * * * *" },
        pi: { enabled: false },
        net: { enabled: false },
        self: { schedule: "*/2 * * * * *" },
        exec: [{ name: "house", command: [script], schedule: "* * * * * *" }],
      },
    });
    const started = nowSeconds();
    const agent = spawnBinaryAgent("linux-x64", device);
    t.after(async () => {
      await agent.kill();
    });
    const prefix = `homeward.${device.name}`;
    const outputs = (): string => `agent output:\n${agent.output()}\nserver output:\n${server.proc.output()}`;

    const temps = await waitForPoints(carbon, `${prefix}.exec.house.boiler.temp_c`, 2, {
      timeoutMs: 30_000,
      outputs,
    });
    for (const [timestamp, value] of temps) {
      assert.equal(value, 61.25);
      assert.ok(timestamp >= started - 1 && timestamp <= nowSeconds() + 1, `timestamp ${timestamp}`);
    }
    const pressure = await waitForPoints(carbon, `${prefix}.exec.house.boiler.pressure_bar`, 1, { outputs });
    assert.ok(pressure.every(([, value]) => value === -0.5));
    const meter = await waitForPoints(carbon, `${prefix}.exec.house.meter.kwh`, 1, {
      from: fixedTimestamp - 10,
      outputs,
    });
    assert.deepEqual(meter, [[fixedTimestamp, 1234.5]]);

    // carbon-cache creates one whisper file at a time: wait for the ones checked, not just any.
    const expected = ["system.load.1m", "system.uptime_s", "self.buffer.depth"].map(
      (name) => `${prefix}.${name}`,
    );
    let seen: string[] = [];
    const metrics = await pollUntil(
      async () => {
        seen = (await carbon.listMetrics()).filter((name) => name.startsWith(`${prefix}.`));
        return expected.every((name) => seen.includes(name)) ? seen : undefined;
      },
      {
        what: `${expected.join(", ")} in whisper`,
        timeoutMs: 30_000,
        describe: () => `whisper holds:\n${seen.join("\n")}\n${outputs()}`,
      },
    );
    assert.ok(metrics.every((name) => name.startsWith(`${prefix}.`)));

    assert.equal((await agent.stop()).code, 0, agent.output());
    assert.equal((await server.proc.stop()).code, 0, server.proc.output());
  });
});

describe("the arm64 binary, under qemu-aarch64-static, runs an agent that ships into Carbon", () => {
  before(() => {
    if (!hasCommand(QEMU)) throw new Error(`${QEMU} is missing (Debian: qemu-user-static)`);
    ensureArm64Sysroot();
    ensureBinaries();
  });

  it("a reading from the arm64 agent lands in whisper through the x64 server", async (t) => {
    const carbon = await startCarbon({ t });
    const device = makeDevice("e2e-arm64-pi");
    const server = await startBinaryServer(carbon, [device]);
    t.after(async () => {
      await server.proc.kill();
    });
    const fixedTimestamp = nowSeconds() - 600;
    const script = writeExecScript(device.dir, ["cellar.temp_c 11.75", `meter.kwh 4321.5 ${fixedTimestamp}`]);
    device.writeConfig({
      server: { url: `http://${LOOPBACK}:${server.httpPort}` },
      clock: { sync_check: "none" },
      collect: {
        system: { enabled: false },
        pi: { enabled: false },
        net: { enabled: false },
        self: { schedule: "*/5 * * * * *" },
        exec: [{ name: "house", command: [script], schedule: "*/2 * * * * *" }],
      },
    });
    const started = nowSeconds();
    const agent = spawnBinaryAgent("linux-arm64", device);
    t.after(async () => {
      await agent.kill();
    });
    const prefix = `homeward.${device.name}`;
    const outputs = (): string => `agent output:\n${agent.output()}\nserver output:\n${server.proc.output()}`;

    const temps = await waitForPoints(carbon, `${prefix}.exec.house.cellar.temp_c`, 1, {
      timeoutMs: 60_000,
      outputs,
    });
    for (const [timestamp, value] of temps) {
      assert.equal(value, 11.75);
      assert.ok(timestamp >= started - 1 && timestamp <= nowSeconds() + 1, `timestamp ${timestamp}`);
    }
    await waitForPoints(carbon, `${prefix}.exec.house.meter.kwh`, [[fixedTimestamp, 4321.5]], { outputs });
    await waitForPoints(carbon, `${prefix}.self.process.rss_bytes`, 1, { timeoutMs: 30_000, outputs });
    assert.match(agent.output(), /msg="agent started"/);

    assert.equal((await agent.stop()).code, 0, agent.output());
    assert.equal((await server.proc.stop()).code, 0, server.proc.output());
  });
});
