// The disk buffer is bounded: when it is full the oldest lines go first and are counted, and the
// agent's memory does not grow with what waits on disk.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { BUFFER_DIR } from "../../../agent/main.ts";
import { loadLineSigner } from "../../../agent/run/device-key.ts";
import { DiskQueue } from "../../../queue/disk-queue.ts";
import { startCarbon } from "../../harness/carbon.ts";
import { freePort } from "../../harness/free-port.ts";
import { pollUntil } from "../../harness/poll.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { DESIGN_AUTH_FILE, startTestServer } from "../server/fixture.ts";
import {
  agentPid,
  agentStarted,
  ONLY_EXEC,
  makeDevice,
  range,
  readAgentStatus,
  rssBytes,
  spawnAgent,
  startCountingServer,
  timestampsByValue,
  writeSequenceScript,
} from "./fixture.ts";

const MiB = 1024 * 1024;

test("a full buffer drops the oldest lines and counts them; the newest arrive", async (t) => {
  const PER_RUN = 2_000;
  const PRODUCED = 8 * PER_RUN;
  const carbon = await startCarbon({ t });
  const device = makeDevice("full-pi", { rate: 5000, burst: 5000 });
  const port = await freePort();
  const base = nowSeconds() - 86_400;
  const sequence = writeSequenceScript(device.dir, {
    perRun: PER_RUN,
    timestampBase: base,
    limit: PRODUCED,
  });
  device.writeConfig({
    // Nothing listens there yet: the server is down while the buffer fills.
    server: { url: `http://127.0.0.1:${port}`, lines_per_second: 5000 },
    buffer: { max_bytes: MiB },
    clock: { sync_check: "none" },
    collect: {
      ...ONLY_EXEC,
      exec: [{ name: "fill", command: [sequence.path], schedule: "* * * * * *" }],
    },
  });
  const agent = spawnAgent(device, t);
  const describe = (): string => `agent output:\n${agent.output()}`;
  // About 150 bytes a line: 16000 lines are more than twice what 1 MiB holds.
  await pollUntil(() => (sequence.last() >= PRODUCED ? true : undefined), {
    what: `${PRODUCED} readings`,
    timeoutMs: 60_000,
    describe,
  });

  await startTestServer({
    t,
    carbonPort: carbon.linePort,
    authText: `${DESIGN_AUTH_FILE}${device.authEntry}`,
    flags: { listen: [`http://127.0.0.1:${port}`] },
  });
  const metric = `homeward.${device.name}.exec.fill.seq`;
  // The newest reading arrives once the backlog is through (oldest first).
  await carbon.waitForPoints(metric, [[base + PRODUCED, PRODUCED]], { timeoutMs: 90_000, describe });
  const stopped = await agent.stop();
  assert.equal(stopped.code, 0, agent.output());
  await carbon.flush();

  const status = readAgentStatus(device);
  const points = await carbon.fetchPoints(metric, { from: base, until: base + PRODUCED });
  const byValue = timestampsByValue(points);
  const delivered = [...byValue.keys()].sort((a, b) => a - b);
  const dropped = status.buffer.droppedOverflow;
  assert.ok(dropped > 0, "the buffer overflowed");
  assert.equal(status.buffer.depth, 0, "the backlog was sent");
  // Every reading is accounted for: delivered, or dropped and counted.
  assert.equal(delivered.length + dropped, PRODUCED, `${delivered.length} delivered + ${dropped} dropped`);
  // The ones dropped are the oldest: what arrived is exactly the newest stretch.
  assert.deepEqual(delivered, range(PRODUCED - delivered.length + 1, PRODUCED));
  for (const [value, stamps] of byValue) assert.deepEqual(stamps, [base + value]);
  assert.ok(
    delivered.length * 140 <= MiB,
    `${delivered.length} lines of at least 140 bytes do not fit in 1 MiB`,
  );
  t.diagnostic(
    `${PRODUCED} readings while the server was down; buffer 1 MiB: ${dropped} oldest dropped and counted ` +
      `(self.dropped.buffer_overflow), ${delivered.length} newest (${PRODUCED - delivered.length + 1}..${PRODUCED}) delivered`,
  );
});

test("memory stays flat with a backlog of 1,000,000 lines on disk while the agent replays it", async (t) => {
  const LINES = 1_000_000;
  const backlog = makeDevice("backlog-pi", { algorithm: "hmac" });
  const empty = makeDevice("empty-pi", { algorithm: "hmac" });
  // 100,000 signed lines written ten times over: signing a million would take longer than the rest
  // of the test, and what the agent keeps in memory does not depend on which lines they are.
  const signer = loadLineSigner(backlog.keyFile);
  const base = nowSeconds() - 86_400;
  const metric = `homeward.${backlog.name}.exec.backlog.seq`;
  const distinct = range(1, LINES / 10).map((n) =>
    signer.sign({ metric, value: String(n), timestamp: base + (n % 86_400) }),
  );
  const queue = await DiskQueue.open({
    dir: join(backlog.stateDir, BUFFER_DIR),
    maxBytes: 256 * MiB,
    fsync: false,
  });
  for (let round = 0; round < 10; round++) {
    for (let start = 0; start < distinct.length; start += 10_000) {
      queue.append(distinct.slice(start, start + 10_000));
      await queue.flush();
    }
  }
  const onDisk = queue.stats();
  await queue.close();
  assert.equal(onDisk.depth, LINES);

  // A sink that takes everything at once, so the agent replays as fast as its rate cap allows.
  const sink = await startCountingServer(t);
  for (const device of [backlog, empty]) {
    device.writeConfig({
      server: { url: sink.url, lines_per_second: 20_000 },
      buffer: { max_bytes: 256 * MiB },
      clock: { sync_check: "none" },
      collect: {
        ...ONLY_EXEC,
        system: { schedule: "* * * * * *" },
        self: { schedule: "* * * * * *" },
      },
    });
  }
  const agents = [spawnAgent(backlog, t), spawnAgent(empty, t)] as const;
  await Promise.all(agents.map((agent) => agentStarted(agent, 60_000)));
  const pids = agents.map(agentPid);
  const samples: [number, number][] = [];
  for (let index = 0; index < 32; index++) {
    samples.push([rssBytes(pids[0] as number), rssBytes(pids[1] as number)]);
    await delay(250);
  }
  const replayed = sink.lines();
  for (const agent of agents) assert.equal((await agent.stop()).code, 0, agent.output());

  const withBacklog = samples.map(([rss]) => rss);
  const without = samples.map(([, rss]) => rss);
  const peak = (values: number[]): number => Math.max(...values);
  const third = Math.floor(samples.length / 3);
  const mib = (bytes: number): string => (bytes / MiB).toFixed(1);
  const summary =
    `RSS MiB with ${LINES} lines waiting: first third peak ${mib(peak(withBacklog.slice(0, third)))}, ` +
    `last third peak ${mib(peak(withBacklog.slice(-third)))}, overall peak ${mib(peak(withBacklog))}; ` +
    `same agent with an empty buffer: peak ${mib(peak(without))}; ${replayed} lines replayed meanwhile`;
  t.diagnostic(summary);
  assert.ok(replayed >= 10_000, `the agent was replaying its backlog: ${summary}`);
  // The backlog costs no memory of its own: a megabyte-scale difference (a few read windows), not
  // the ~150 MiB the lines take on disk; and reading through it does not accumulate anything.
  assert.ok(peak(withBacklog) <= peak(without) + 24 * MiB, summary);
  assert.ok(peak(withBacklog.slice(-third)) <= peak(withBacklog.slice(0, third)) + 8 * MiB, summary);
});
