// The agent is killed -9 at random points, again and again, while it collects and ships; each time
// it restarts on the same state dir. Whatever reached its disk buffer is delivered exactly once, and
// nothing reaches Carbon twice.
//
// What "reached the buffer" means is read from the buffer itself: after each kill the test copies
// the state dir's buffer and opens the copy with DiskQueue, the same recovery the agent runs when it
// restarts. A reading can be lost to a kill only if it was in none of those copies and was not
// delivered yet: it was still in the agent's memory (the script had printed it, or the buffer had not
// written it yet). Those are counted and reported.
import assert from "node:assert/strict";
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { DiskQueue } from "../../../queue/disk-queue.ts";
import { startCarbon } from "../../harness/carbon.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { freePort } from "../../harness/free-port.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { DESIGN_AUTH_FILE, sample, startTestServer } from "../server/fixture.ts";
import {
  agentStarted,
  ONLY_EXEC,
  makeDevice,
  readAgentStatus,
  spawnAgent,
  timestampsByValue,
  writeSequenceScript,
} from "./fixture.ts";

const KILLS = 20;
const PER_RUN = 10;
/** The lives that cannot reach the server. */
const OFFLINE_LIVES = new Set([4, 5, 6, 7, 12, 13, 14]);

/** mulberry32: a seeded PRNG, so a failing sequence of kill points can be replayed (HOMEWARD_KILL_SEED). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

/** The readings (values) in a copy of the buffer as the agent would find it on restart. */
async function durableReadings(bufferDir: string, metric: string): Promise<number[]> {
  const copy = join(makeTempDir("kill-snapshot"), "buffer");
  try {
    cpSync(bufferDir, copy, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const queue = await DiskQueue.open({ dir: copy, fsync: false });
  try {
    const batch = await queue.peek(Number.MAX_SAFE_INTEGER);
    return batch.records
      .filter((line) => line.startsWith(`${metric} `))
      .map((line) => Number(line.split(" ")[1]));
  } finally {
    await queue.close();
    rmSync(copy, { recursive: true, force: true });
  }
}

test(`the agent killed -9 ${KILLS} times while collecting and shipping: nothing buffered is lost or duplicated`, async (t) => {
  const seed = Number(process.env.HOMEWARD_KILL_SEED ?? Math.floor(Math.random() * 2 ** 32));
  const random = seededRandom(seed);
  const carbon = await startCarbon({ t });
  const device = makeDevice("kill-pi", { rate: 5000, burst: 5000 });
  const server = await startTestServer({
    t,
    carbonPort: carbon.linePort,
    authText: `${DESIGN_AUTH_FILE}${device.authEntry}`,
  });
  // Explicit timestamps, one second apart: reading n is the point (base + n, n).
  const base = nowSeconds() - 86_400;
  const sequence = writeSequenceScript(device.dir, { perRun: PER_RUN, timestampBase: base });
  // Some lives cannot reach the server (their config points at a closed port), so a backlog builds
  // up on disk; the lives after them catch up, and are killed while they do. The server itself
  // keeps running, so its dedupe remembers every line it took.
  const unreachable = await freePort();
  const configure = (reachable: boolean): void =>
    device.writeConfig({
      server: {
        url: `http://127.0.0.1:${reachable ? server.port("http") : unreachable}`,
        lines_per_second: 1000,
      },
      clock: { sync_check: "none" },
      collect: { ...ONLY_EXEC, exec: [{ name: "k", command: [sequence.path], schedule: "* * * * * *" }] },
    });
  const metric = `homeward.${device.name}.exec.k.seq`;
  const bufferDir = join(device.stateDir, "buffer");

  const durable = new Set<number>();
  const kills: {
    afterStartMs: number | null;
    firstProduced: number;
    lastProduced: number;
    durable: number;
  }[] = [];
  let output = "";
  for (let kill = 1; kill <= KILLS; kill++) {
    configure(!OFFLINE_LIVES.has(kill));
    const firstProduced = sequence.last() + 1;
    const agent = spawnAgent(device, t);
    // Every other kill lands anywhere from the start (opening and scanning the buffer included);
    // the others while the agent collects and ships.
    let afterStartMs: number | null = null;
    if (kill % 2 === 0) {
      await delay(Math.floor(random() * 2_000));
    } else {
      await agentStarted(agent);
      afterStartMs = Math.floor(random() * 2_500);
      await delay(afterStartMs);
    }
    await agent.kill();
    sequence.settle();
    output = agent.output();
    const found = await durableReadings(bufferDir, metric);
    for (const value of found) durable.add(value);
    kills.push({ afterStartMs, firstProduced, lastProduced: sequence.last(), durable: found.length });
  }

  configure(true);
  const final = spawnAgent(device, t);
  const describe = (): string => `last killed agent's output:\n${output}\nfinal agent:\n${final.output()}`;
  await agentStarted(final);
  const lastReading = await sequence.finish({ describe });
  const lastKilled = kills.at(-1)?.lastProduced ?? 0;
  const produced = sequence.produced();
  // Everything produced after the last kill, and everything that was on disk at any kill, must come.
  const mustArrive = produced.filter((n) => n > lastKilled || durable.has(n));
  await carbon.waitForPoints(
    metric,
    (points) => {
      const values = new Set(points.map(([, value]) => value));
      return mustArrive.every((n) => values.has(n));
    },
    { from: base, until: base + lastReading, timeoutMs: 60_000, describe },
  );
  const stopped = await final.stop();
  assert.equal(stopped.code, 0, final.output());
  await carbon.flush();

  const points = await carbon.fetchPoints(metric, { from: base, until: base + lastReading });
  const byValue = timestampsByValue(points);
  const producedSet = new Set(produced);
  for (const [value, stamps] of byValue) {
    assert.ok(producedSet.has(value), `whisper has ${value}, which the script never produced`);
    assert.deepEqual(stamps, [base + value], `reading ${value} is stored at ${stamps.join(", ")}`);
  }
  // A reading is lost only if it was still in the agent's memory when it was killed: never on disk
  // at a kill, and among the newest of that life (the buffer writes and acks oldest first, so what
  // is only in memory is always a life's last readings). The shipper writes whatever it cannot send
  // at once, so that is the run in flight (its script done, its lines not yet handed over), plus,
  // when the server is reachable, lines on their way to it: at most a couple of runs. A life that
  // cannot reach the server has nothing on the way: it loses at most the run in flight (its
  // readings would wait up to the buffer's 2 s timed flush if the shipper did not write them).
  const lost = produced.filter((n) => !byValue.has(n));
  const lostPerLife = kills.map(({ firstProduced, lastProduced }) =>
    lost.filter((n) => n >= firstProduced && n <= lastProduced),
  );
  for (const n of lost) {
    assert.ok(!durable.has(n), `reading ${n} was in the buffer on disk at a kill, and is lost`);
    assert.ok(n <= lastKilled, `reading ${n} was taken after the last kill, and is lost`);
  }
  kills.forEach(({ firstProduced, lastProduced }, index) => {
    const lostHere = lostPerLife[index] ?? [];
    if (lostHere.length === 0) return;
    const life = produced.filter((n) => n >= firstProduced && n <= lastProduced);
    assert.deepEqual(
      lostHere,
      life.slice(life.length - lostHere.length),
      `life ${index + 1}: lost ${lostHere.join(", ")} are not its newest readings`,
    );
    const atMost = OFFLINE_LIVES.has(index + 1) ? PER_RUN : 2 * PER_RUN;
    assert.ok(
      lostHere.length <= atMost,
      `life ${index + 1} lost ${lostHere.length} readings (at most ${atMost}): ${lostHere.join(", ")}`,
    );
  });
  // Carbon got each line once: the server accepted exactly as many lines as whisper holds (lines an
  // agent sent again after a kill, before its ack was on disk, are refused as duplicates).
  const metrics = await server.metrics();
  const accepted = sample(metrics, "homeward_server_lines_accepted_total", { key: device.name });
  const duplicates = sample(metrics, "homeward_server_lines_rejected_total", {
    key: device.name,
    reason: "duplicate",
  });
  assert.equal(accepted, byValue.size, "lines accepted by the server = readings in whisper");
  const status = readAgentStatus(device);
  t.diagnostic(
    `seed ${seed}; ${KILLS} kills (${kills.map((k) => (k.afterStartMs === null ? "early" : `${k.afterStartMs}ms`)).join(" ")}); ` +
      `${produced.length} readings produced, ${byValue.size} in whisper once each, ` +
      `${durable.size} seen on disk at a kill, all delivered; ${lost.length} lost in memory at a kill ` +
      `(${lost.join(", ") || "none"}); ${duplicates} resent after a kill and refused as duplicates; ` +
      `final agent: buffer_corrupt ${status.buffer.droppedCorrupt}; on disk per kill: ${kills.map((k) => k.durable).join(" ")}`,
  );
});
