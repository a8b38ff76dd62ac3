// A damaged disk buffer (a power cut mid-write, a bad SD-card block) is recovered when the agent
// starts: the damage is cut or skipped, the reason is logged and counted, and every other line in
// it is delivered.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { BUFFER_DIR } from "../../../agent/main.ts";
import { loadLineSigner } from "../../../agent/run/device-key.ts";
import { DiskQueue } from "../../../queue/disk-queue.ts";
import { decodeFrame, FRAME_OK } from "../../../queue/record-frame.ts";
import type { DecodedFrame } from "../../../queue/record-frame.ts";
import { SEGMENT_HEADER_BYTES } from "../../../queue/segment-files.ts";
import { startCarbon } from "../../harness/carbon.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { DESIGN_AUTH_FILE, startTestServer } from "../server/fixture.ts";
import { ONLY_EXEC, makeDevice, range, readAgentStatus, spawnAgent, timestampsByValue } from "./fixture.ts";

interface Frame {
  readonly seq: number;
  readonly start: number;
  readonly payloadStart: number;
  readonly payloadEnd: number;
  readonly end: number;
  readonly line: string;
}

/** The records of a segment file, with where each one lies. */
function framesOf(path: string): Frame[] {
  const bytes = readFileSync(path);
  const out: DecodedFrame = { seq: 0, payloadStart: 0, payloadEnd: 0, end: 0 };
  const frames: Frame[] = [];
  for (let position = SEGMENT_HEADER_BYTES; position < bytes.length; position = out.end) {
    const status = decodeFrame(bytes, position, bytes.length, 64 * 1024, out);
    assert.equal(status, FRAME_OK, `${path}: no frame at ${position}`);
    frames.push({
      seq: out.seq,
      start: position,
      payloadStart: out.payloadStart,
      payloadEnd: out.payloadEnd,
      end: out.end,
      line: bytes.toString("utf8", out.payloadStart, out.payloadEnd),
    });
  }
  return frames;
}

test("a torn tail and a corrupted record are recovered: logged, counted, the rest delivered", async (t) => {
  const LINES = 300;
  const carbon = await startCarbon({ t });
  const device = makeDevice("damaged-pi");
  const server = await startTestServer({
    t,
    carbonPort: carbon.linePort,
    authText: `${DESIGN_AUTH_FILE}${device.authEntry}`,
  });

  // The buffer a previous run of the agent left: 300 signed readings in several segment files.
  const signer = loadLineSigner(device.keyFile);
  const metric = `homeward.${device.name}.exec.before.seq`;
  const base = nowSeconds() - 86_400;
  const bufferDir = join(device.stateDir, BUFFER_DIR);
  const queue = await DiskQueue.open({ dir: bufferDir, segmentBytes: 16 * 1024 });
  queue.append(range(1, LINES).map((n) => signer.sign({ metric, value: String(n), timestamp: base + n })));
  await queue.close();
  const segments = readdirSync(bufferDir)
    .filter((name) => name.endsWith(".seg"))
    .sort()
    .map((name) => join(bufferDir, name));
  assert.ok(segments.length >= 3, `${segments.length} segments`);

  // A bit flipped inside a record in the middle of the second segment: its CRC no longer matches.
  const middle = segments[1] as string;
  const middleFrames = framesOf(middle);
  const rotten = middleFrames[Math.floor(middleFrames.length / 2)] as Frame;
  const bytes = readFileSync(middle);
  const at = Math.floor((rotten.payloadStart + rotten.payloadEnd) / 2);
  bytes[at] = (bytes[at] ?? 0) ^ 0x04;
  writeFileSync(middle, bytes);
  // A power cut in the middle of writing the last record: the last segment ends half-way through it.
  const lastSegment = segments.at(-1) as string;
  const torn = framesOf(lastSegment).at(-1) as Frame;
  truncateSync(lastSegment, Math.floor((torn.start + torn.end) / 2));
  const rottenValue = Number(rotten.line.split(" ")[1]);
  const tornValue = Number(torn.line.split(" ")[1]);
  assert.equal(tornValue, LINES);

  device.writeConfig({
    server: { url: `http://127.0.0.1:${server.port("http")}`, lines_per_second: 1000 },
    clock: { sync_check: "none" },
    collect: ONLY_EXEC,
  });
  const agent = spawnAgent(device, t);
  const expected = range(1, LINES).filter((n) => n !== rottenValue && n !== tornValue);
  // Oldest first: once the newest surviving line is in, everything before it has been sent.
  await carbon.waitForPoints(metric, [[base + LINES - 1, LINES - 1]], {
    from: base,
    until: base + LINES,
    timeoutMs: 30_000,
    describe: () => `agent output:\n${agent.output()}`,
  });
  const stopped = await agent.stop();
  assert.equal(stopped.code, 0, agent.output());
  await carbon.flush();

  const points = await carbon.fetchPoints(metric, { from: base, until: base + LINES });
  const byValue = timestampsByValue(points);
  assert.deepEqual(
    [...byValue.keys()].sort((a, b) => a - b),
    expected,
    `everything but readings ${rottenValue} (corrupted) and ${tornValue} (torn) is delivered`,
  );
  for (const [value, stamps] of byValue) assert.deepEqual(stamps, [base + value]);

  const output = agent.output();
  const problems = output.split("\n").filter((line) => line.includes('msg="disk buffer problem"'));
  const middleName = middle.slice(bufferDir.length + 1);
  const lastName = lastSegment.slice(bufferDir.length + 1);
  assert.ok(
    problems.some((line) =>
      new RegExp(
        `${middleName}: bytes \\d+-\\d+ damaged \\(bad CRC or framing\\), skipped; 1 record\\(s\\) lost`,
      ).test(line),
    ),
    `the corrupted record is logged with its reason:\n${output}`,
  );
  assert.ok(
    problems.some((line) =>
      line.includes(`${lastName}: torn tail from byte ${torn.start} cut; 1 record(s) lost`),
    ),
    `the torn tail is logged with its reason:\n${output}`,
  );
  const status = readAgentStatus(device);
  assert.equal(status.buffer.droppedCorrupt, 2, "both losses are counted (self.dropped.buffer_corrupt)");
  assert.equal(status.buffer.depth, 0);
  t.diagnostic(`${segments.length} segments; logged: ${problems.join(" | ")}`);
});
