// The server goes away for a while and comes back: the agent keeps collecting into its disk buffer,
// and every reading taken meanwhile reaches whisper exactly once, with the time it was taken.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startCarbon } from "../../harness/carbon.ts";
import { freePort } from "../../harness/free-port.ts";
import { pollUntil } from "../../harness/poll.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { DESIGN_AUTH_FILE, startTestServer } from "../server/fixture.ts";
import type { TestServer } from "../server/fixture.ts";
import { ONLY_EXEC, expectEveryRunOnce, makeDevice, spawnAgent, writeSequenceScript } from "./fixture.ts";

/** Readings taken while the server is down, at one a second. */
const GAP_READINGS = 8;

test("server down for a while: every reading taken meanwhile lands in whisper exactly once", async (t) => {
  const carbon = await startCarbon({ t });
  const device = makeDevice("outage-pi");
  const port = await freePort();
  const startServer = (): Promise<TestServer> =>
    startTestServer({
      t,
      carbonPort: carbon.linePort,
      authText: `${DESIGN_AUTH_FILE}${device.authEntry}`,
      flags: { listen: [`http://127.0.0.1:${port}`] },
    });
  const server = await startServer();
  const sequence = writeSequenceScript(device.dir);
  device.writeConfig({
    server: { url: `http://127.0.0.1:${port}` },
    clock: { sync_check: "none" },
    collect: { ...ONLY_EXEC, exec: [{ name: "gap", command: [sequence.path], schedule: "* * * * * *" }] },
  });
  const started = nowSeconds();
  const agent = spawnAgent(device, t);
  const metric = `homeward.${device.name}.exec.gap.seq`;
  const describe = (): string => `agent output:\n${agent.output()}`;

  // Readings flow before the outage.
  await carbon.waitForPoints(metric, 2, { timeoutMs: 30_000, describe });

  await server.close();
  const lastBeforeGap = sequence.last();
  await pollUntil(() => (sequence.last() >= lastBeforeGap + GAP_READINGS ? true : undefined), {
    what: `${GAP_READINGS} readings taken while the server is down`,
    timeoutMs: 30_000,
    describe,
  });
  const lastInGap = sequence.last();
  // Back on the same port (startTestServer closes it after the test).
  await startServer();

  // Catching up: the backoff after a few failed attempts may wait a while (full jitter, doubling).
  // Then the script stops, so the readings are a known set, and everything reaches whisper.
  // Oldest first: once the last reading is in, every one before it has been sent. Every reading the
  // script printed, the ones during the gap included, is in whisper exactly once.
  const { runs, byValue } = await expectEveryRunOnce({
    sequence,
    carbon,
    agent,
    metric,
    from: started - 1,
    waitMs: 90_000,
    describe,
  });
  const gapRuns = runs.filter(({ first }) => first > lastBeforeGap && first <= lastInGap);
  assert.ok(gapRuns.length >= GAP_READINGS, `only ${gapRuns.length} readings during the gap`);
  // Each at the second its run started (the script logs its own clock a moment after the agent's stamp).
  for (const { first, at } of runs) {
    const [timestamp] = byValue.get(first) as [number];
    assert.ok(
      timestamp === at || timestamp === at - 1,
      `reading ${first} was taken at ${at} but is stamped ${timestamp}`,
    );
  }
  t.diagnostic(
    `${runs.length} readings, ${gapRuns.length} of them (${lastBeforeGap + 1}..${lastInGap}) while the server was down; ` +
      `all in whisper once`,
  );
});
