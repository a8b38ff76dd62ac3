import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { startCarbon } from "../harness/carbon.ts";
import type { Carbon } from "../harness/carbon.ts";
import { spawnServerChild } from "../integration/load/server-process.ts";
import type { ServerChild } from "../integration/load/server-process.ts";
import {
  FUZZ_METRIC,
  fuzzServerFlags,
  GoodLines,
  httpCase,
  makeFuzzKey,
  newTally,
  runHttpCase,
  slowHttpCase,
} from "./http-cases.ts";

const MiB = 1024 * 1024;

describe("HTTP ingest under fuzzing, against a running server (npm run fuzz: tens of thousands of requests)", () => {
  let carbon: Carbon;
  let server: ServerChild;
  before(async () => {
    carbon = await startCarbon();
  });
  after(async () => {
    await server?.stop();
    await carbon?.dispose();
  });

  test("random, broken and hostile requests are all answered or timed out; the server stays up and accounts for every line", async () => {
    const key = makeFuzzKey();
    server = await spawnServerChild({
      authText: key.authText,
      carbonAddr: `127.0.0.1:${carbon.linePort}`,
      flags: fuzzServerFlags(),
      name: "fuzz-http-server",
    });
    const good = new GoodLines(key.signer);
    const tally = newTally();
    const startMemory = server.memory();

    // The slow cases (a body trickled byte by byte, one that stops coming) run alongside the rest.
    const slow = Promise.all(
      fc.sample(slowHttpCase, 4).map((slowCase) => runHttpCase(server.httpPort, slowCase, good, tally)),
    );
    await fc.assert(
      fc.asyncProperty(httpCase, async (testCase) => {
        await runHttpCase(server.httpPort, testCase, good, tally);
        server.assertRunning();
      }),
      { numRuns: 200 },
    );
    await slow;
    server.assertRunning();

    const endMemory = server.memory();
    assert.ok(
      endMemory.rssBytes < startMemory.rssBytes + 128 * MiB,
      `server RSS grew from ${(startMemory.rssBytes / MiB).toFixed(0)} to ${(endMemory.rssBytes / MiB).toFixed(0)} MiB`,
    );

    assert.ok(tally.accepted > 0, "some good lines were in the mix");
    const points = await carbon.waitForPoints(FUZZ_METRIC, tally.accepted, {
      from: good.base - good.made - 1,
    });
    assert.equal(points.length, tally.accepted, "every accepted line reached Carbon, once");
    assert.equal(
      await server.sample("homeward_server_lines_accepted_total", { key: "fuzz-device" }),
      tally.accepted,
    );

    const bad = server.logs().filter((entry) => entry.level === "fatal" || entry.level === "error");
    assert.deepEqual(bad, [], "nothing went wrong inside the server");
    const health = await fetch(`http://127.0.0.1:${server.metricsPort}/healthz`);
    assert.equal(health.status, 200);
    console.log(
      `http fuzz: ${tally.cases} cases, ${tally.accepted} good lines accepted; RSS ${(startMemory.rssBytes / MiB).toFixed(0)} -> ${(endMemory.rssBytes / MiB).toFixed(0)} MiB`,
    );
  });
});
