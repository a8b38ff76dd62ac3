// A Pi boots without a real-time clock: until NTP has synchronized it, the agent stamps nothing. The
// sync check's input is simulated: `clock.sync_check: timesyncd` looks for systemd-timesyncd's flag
// file under `clock.root`, which the test creates when it wants the clock to count as synchronized.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { startCarbon } from "../../harness/carbon.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { pollUntil } from "../../harness/poll.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { DESIGN_AUTH_FILE, sample, startTestServer } from "../server/fixture.ts";
import { ONLY_EXEC, makeDevice, spawnAgent, timestampsByValue, writeSequenceScript } from "./fixture.ts";

const HELD = 4;

test("an unsynchronized clock: readings are held, then arrive with the time they were taken", async (t) => {
  const carbon = await startCarbon({ t });
  const device = makeDevice("rtcless-pi");
  const server = await startTestServer({
    t,
    carbonPort: carbon.linePort,
    authText: `${DESIGN_AUTH_FILE}${device.authEntry}`,
  });
  const root = makeTempDir("clock-root");
  const sequence = writeSequenceScript(device.dir);
  device.writeConfig({
    server: { url: `http://127.0.0.1:${server.port("http")}` },
    clock: { sync_check: "timesyncd", root, poll: "1s" },
    collect: { ...ONLY_EXEC, exec: [{ name: "boot", command: [sequence.path], schedule: "* * * * * *" }] },
  });
  const started = nowSeconds();
  const agent = spawnAgent(device, t);
  const describe = (): string => `agent output:\n${agent.output()}`;
  const metric = `homeward.${device.name}.exec.boot.seq`;

  // Not synchronized: the collector runs, and nothing leaves the agent.
  await pollUntil(() => (sequence.last() >= HELD ? true : undefined), {
    what: `${HELD} readings taken`,
    timeoutMs: 30_000,
    describe,
  });
  const accepted = (): Promise<number> =>
    server
      .metrics()
      .then((text) => sample(text, "homeward_server_lines_accepted_total", { key: device.name }));
  assert.equal(await accepted(), 0, "no line reached the server before the clock was synchronized");
  assert.deepEqual(await carbon.listMetrics(), [], "nothing in Carbon");
  assert.ok(!agent.output().includes("clock: synchronized"), describe());

  // systemd-timesyncd reports synchronization.
  const flag = join(root, "run/systemd/timesync/synchronized");
  mkdirSync(join(flag, ".."), { recursive: true });
  writeFileSync(flag, "");
  const lastReading = await sequence.finish({ describe });
  // Oldest first: once the last reading is in, every one before it has been sent.
  await carbon.waitForPoints(metric, (points) => points.some(([, value]) => value === lastReading), {
    from: started - 1,
    timeoutMs: 30_000,
    describe,
  });
  const stopped = await agent.stop();
  assert.equal(stopped.code, 0, agent.output());
  await carbon.flush();

  const runs = sequence.runs();
  const byValue = timestampsByValue(await carbon.fetchPoints(metric, { from: started - 1 }));
  // Held readings are stamped from the monotonic clock once the wall clock is trusted: each lands at
  // the second it was taken (the script logs its own clock a moment after the agent's run starts).
  for (const { first, at } of runs) {
    const stamps = byValue.get(first);
    assert.ok(stamps, `reading ${first} (taken at ${at}) is not in whisper`);
    assert.equal(stamps.length, 1);
    const [timestamp] = stamps as [number];
    assert.ok(
      timestamp === at || timestamp === at - 1,
      `reading ${first} taken at ${at} is stamped ${timestamp}`,
    );
  }
  assert.equal(byValue.size, runs.length, "no point that no run produced");
  const trusted = /heldBatches=(\d+) heldReadings=\d+ msg="clock: synchronized; stamping held readings"/.exec(
    agent.output(),
  );
  assert.ok(trusted, describe());
  assert.ok(Number(trusted[1]) >= HELD, `${trusted[1]} batches were held`);
  t.diagnostic(
    `${trusted[1]} batches held until the flag file appeared; ${runs.length} readings, all at their own second`,
  );
});
