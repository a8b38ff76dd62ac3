// The state dir's disk turns read-only under a running agent (a Pi's SD card remounted read-only
// after I/O errors), while the server is away too. The agent keeps running: it holds what it cannot
// write in memory, bounded, dropping the oldest and counting them (buffer_unwritten); once the
// server is back it ships from memory with the disk still refusing; the failing disk is logged once
// per interval, not once per attempt; and when the disk can be written again it says so and goes
// on. Every reading is in whisper exactly once, or counted as dropped.
//
// The agent runs in this process with the real disk behind a QueueFs that refuses writes on demand
// (read-only-queue-fs.ts explains why not chmod); server, carbon-cache and exec collector are real.
// The second test starts the agent on a disk that is read-only from the start.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadAgentConfig } from "../../../agent/config/load.ts";
import { BUFFER_DIR, startAgent } from "../../../agent/main.ts";
import { createLogger } from "../../../runtime/log/logger.ts";
import { startCarbon } from "../../harness/carbon.ts";
import { freePort } from "../../harness/free-port.ts";
import { pollUntil } from "../../harness/poll.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { DESIGN_AUTH_FILE, LogCapture, startTestServer } from "../server/fixture.ts";
import type { TestServer } from "../server/fixture.ts";
import { ONLY_EXEC, makeDevice, readAgentStatus, timestampsByValue, writeSequenceScript } from "./fixture.ts";
import { readOnlyQueueFs } from "./read-only-queue-fs.ts";

const MiB = 1024 * 1024;
/** Readings per second: about 140 bytes each, so the 512 KiB the agent may hold unwritten (half
 * of the 1 MiB buffer) fill within a few seconds. */
const PER_RUN = 1_000;

/** Log lines (logfmt) with all of these in them. */
function linesWith(text: string, ...parts: string[]): string[] {
  return text.split("\n").filter((line) => parts.every((part) => line.includes(part)));
}

test("a read-only state dir: the agent goes on from memory, bounded, logs it once per interval, and recovers", async (t) => {
  const carbon = await startCarbon({ t });
  const device = makeDevice("readonly-pi", { rate: 10_000, burst: 10_000 });
  const port = await freePort();
  const startServer = (): Promise<TestServer> =>
    startTestServer({
      t,
      carbonPort: carbon.linePort,
      authText: `${DESIGN_AUTH_FILE}${device.authEntry}`,
      flags: { listen: [`http://127.0.0.1:${port}`] },
    });
  const server = await startServer();
  const base = nowSeconds() - 86_400;
  const sequence = writeSequenceScript(device.dir, { perRun: PER_RUN, timestampBase: base });
  device.writeConfig({
    server: { url: `http://127.0.0.1:${port}`, lines_per_second: 10_000 },
    buffer: { max_bytes: MiB },
    clock: { sync_check: "none" },
    collect: { ...ONLY_EXEC, exec: [{ name: "ro", command: [sequence.path], schedule: "* * * * * *" }] },
  });
  const disk = readOnlyQueueFs();
  const logs = new LogCapture();
  const agent = await startAgent({
    loaded: loadAgentConfig({ configPath: device.configFile, stateDir: device.stateDir }),
    stateDir: device.stateDir,
    log: createLogger("logfmt", "info", logs),
    // One line per fault for the whole test: the interval is longer than the test.
    env: { HOMEWARD_FAULT_LOG_INTERVAL: "10m" },
    queueFs: disk.fs,
  });
  let stopped = false;
  t.after(async () => {
    if (!stopped) await agent.stop();
  });
  const metric = `homeward.${device.name}.exec.ro.seq`;
  const describe = (): string => `agent log:\n${logs.text()}`;
  const whisperHas = (predicate: (value: number) => boolean) => (points: [number, number][]) =>
    points.some(([, value]) => predicate(value));

  // Readings flow while all is well.
  await carbon.waitForPoints(
    metric,
    whisperHas(() => true),
    { from: base, timeoutMs: 30_000, describe },
  );

  // The disk turns read-only and the server goes away: what is taken now can only wait in memory.
  disk.readOnly = true;
  await server.close();
  const lastBeforeFault = sequence.last();
  await pollUntil(
    () =>
      disk.refused >= 3 && linesWith(logs.text(), "waiting to be written").length > 0 ? true : undefined,
    { what: "the agent to drop unwritten readings past its memory bound", timeoutMs: 60_000, describe },
  );
  const lastWhileDown = sequence.last();
  // `homeward status` says so: the status file carries the disk's problem while it lasts.
  await pollUntil(() => (/EROFS/.test(readAgentStatus(device).buffer.problem ?? "") ? true : undefined), {
    what: "the status file to say the disk cannot be written",
    timeoutMs: 30_000,
    describe,
  });

  // The server is back, the disk still read-only: the agent ships straight from memory.
  await startServer();
  await carbon.waitForPoints(
    metric,
    whisperHas((value) => value > lastWhileDown),
    { from: base, timeoutMs: 90_000, describe },
  );
  assert.ok(disk.readOnly);
  const refusedWhileReadOnly = disk.refused;

  // The disk can be written again.
  const lastWhileReadOnly = sequence.last();
  disk.readOnly = false;
  await pollUntil(
    () => (linesWith(logs.text(), "the disk buffer can be written again").length > 0 ? true : undefined),
    { what: "the agent to notice the disk is writable again", timeoutMs: 30_000, describe },
  );
  const lastReading = await sequence.finish({ describe });
  await carbon.waitForPoints(
    metric,
    whisperHas((value) => value === lastReading),
    { from: base, timeoutMs: 60_000, describe },
  );
  stopped = true;
  await agent.stop();
  await carbon.flush();

  const status = readAgentStatus(device);
  const droppedUnwritten = status.buffer.droppedUnwritten ?? 0;
  const points = await carbon.fetchPoints(metric, { from: base, until: base + lastReading });
  const byValue = timestampsByValue(points);
  const produced = sequence.produced();
  const missing = produced.filter((n) => !byValue.has(n));
  for (const [value, stamps] of byValue) {
    assert.deepEqual(stamps, [base + value], `reading ${value} is in whisper at ${stamps.join(", ")}`);
  }
  // Every reading is in whisper once, or was dropped and counted under its named reason; only
  // readings taken while the disk could not be written can have been dropped.
  assert.ok(droppedUnwritten > 0, "the memory bound was reached while the disk was read-only");
  assert.ok(missing.length > 0, "readings were lost to the memory bound");
  // Exactly the lost readings are counted: lines pushed out of memory while a peeked batch was on
  // its way count only if that batch is not acked (queue/in-flight-drops.ts).
  assert.equal(droppedUnwritten, missing.length, `missing ${missing.length}, counted ${droppedUnwritten}`);
  for (const n of missing) {
    assert.ok(
      n > lastBeforeFault - PER_RUN && n <= lastWhileReadOnly + PER_RUN,
      `reading ${n} is missing but was not taken while the disk was read-only`,
    );
  }
  assert.equal(byValue.size + missing.length, produced.length);
  assert.equal(status.buffer.depth, 0, "nothing left behind");

  // Logged once each, although each happened again and again.
  const log = logs.text();
  const writeFailures = linesWith(log, "fault=buffer", "record(s) failed");
  const overBound = linesWith(log, "fault=buffer", "waiting to be written");
  const cleared = linesWith(log, "fault=buffer", "the disk buffer can be written again");
  assert.equal(writeFailures.length, 1, writeFailures.join("\n"));
  assert.match(writeFailures[0] ?? "", /EROFS: read-only file system/);
  assert.equal(overBound.length, 1, overBound.join("\n"));
  assert.equal(cleared.length, 1, cleared.join("\n"));
  const occurrences = Number(/occurrences=(\d+)/.exec(cleared[0] ?? "")?.[1]);
  assert.ok(occurrences >= 3, `the buffer's problems happened ${occurrences} times: ${cleared[0]}`);
  assert.ok(refusedWhileReadOnly >= 3);
  const shipFailures = linesWith(log, "fault=ship", "could not reach");
  assert.equal(shipFailures.length, 1, shipFailures.join("\n"));
  assert.equal(linesWith(log, "fault=ship", "sending again after").length, 1, describe());
  t.diagnostic(
    `${produced.length} readings; disk read-only from ${lastBeforeFault} on, server away until ${lastWhileDown}; ` +
      `${disk.refused} writes refused, ${occurrences} buffer problems logged in ${writeFailures.length + overBound.length} lines; ` +
      `${missing.length} readings held in memory dropped, counted as ${droppedUnwritten} (buffer_unwritten), ` +
      `${byValue.size} in whisper once each`,
  );
});

test("a state dir read-only from the start: the agent starts anyway, ships from memory, and takes to the disk once it can", async (t) => {
  const carbon = await startCarbon({ t });
  const device = makeDevice("ro-boot-pi", { rate: 5_000, burst: 5_000 });
  const server = await startTestServer({
    t,
    carbonPort: carbon.linePort,
    authText: `${DESIGN_AUTH_FILE}${device.authEntry}`,
  });
  const base = nowSeconds() - 86_400;
  const sequence = writeSequenceScript(device.dir, { perRun: 10, timestampBase: base });
  device.writeConfig({
    server: { url: `http://127.0.0.1:${server.port("http")}`, lines_per_second: 5_000 },
    clock: { sync_check: "none" },
    collect: { ...ONLY_EXEC, exec: [{ name: "boot", command: [sequence.path], schedule: "* * * * * *" }] },
  });
  const disk = readOnlyQueueFs();
  disk.readOnly = true;
  const logs = new LogCapture();
  const agent = await startAgent({
    loaded: loadAgentConfig({ configPath: device.configFile, stateDir: device.stateDir }),
    stateDir: device.stateDir,
    log: createLogger("logfmt", "info", logs),
    env: { HOMEWARD_FAULT_LOG_INTERVAL: "10m" },
    queueFs: disk.fs,
  });
  let stopped = false;
  t.after(async () => {
    if (!stopped) await agent.stop();
  });
  const metric = `homeward.${device.name}.exec.boot.seq`;
  const describe = (): string => `agent log:\n${logs.text()}`;
  const bufferDir = join(device.stateDir, BUFFER_DIR);

  // Readings flow although the buffer could not even be created.
  await carbon.waitForPoints(metric, (points) => points.length >= 20, {
    from: base,
    timeoutMs: 30_000,
    describe,
  });
  assert.ok(!existsSync(bufferDir), "the buffer dir could not have been made");
  // It tries again (every 10 s) while the disk stays read-only: each try is one refused mkdir.
  await pollUntil(() => (disk.refused >= 2 ? true : undefined), {
    what: "the agent to try its disk buffer again",
    timeoutMs: 30_000,
    describe,
  });

  disk.readOnly = false;
  await pollUntil(
    () => (linesWith(logs.text(), "fault=buffer", "the disk buffer is open").length > 0 ? true : undefined),
    { what: "the agent to open its disk buffer", timeoutMs: 60_000, describe },
  );
  assert.ok(existsSync(bufferDir), "the disk buffer is open");
  const lastReading = await sequence.finish({ describe });
  await carbon.waitForPoints(metric, (points) => points.some(([, value]) => value === lastReading), {
    from: base,
    timeoutMs: 60_000,
    describe,
  });
  stopped = true;
  await agent.stop();
  await carbon.flush();

  const points = await carbon.fetchPoints(metric, { from: base, until: base + lastReading });
  const byValue = timestampsByValue(points);
  const produced = sequence.produced();
  for (const n of produced) assert.deepEqual(byValue.get(n), [base + n], `reading ${n}`);
  assert.equal(points.length, produced.length, "no point that no run produced");
  assert.equal(readAgentStatus(device).buffer.droppedUnwritten ?? 0, 0);
  const cannotOpen = linesWith(logs.text(), "fault=buffer", "cannot open the disk buffer", "EROFS");
  assert.equal(cannotOpen.length, 1, cannotOpen.join("\n"));
  const opened = linesWith(logs.text(), "fault=buffer", "the disk buffer is open");
  const attempts = Number(/occurrences=(\d+)/.exec(opened[0] ?? "")?.[1]);
  assert.ok(attempts >= 2, opened.join("\n"));
  t.diagnostic(
    `${produced.length} readings, all in whisper once; the disk buffer could not be opened ${attempts} time(s) ` +
      `(logged once), then took over`,
  );
});
