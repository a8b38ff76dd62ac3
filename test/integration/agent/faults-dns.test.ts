// The server's name stops resolving (the home's DNS is broken, or the owner's domain lapsed) and
// later resolves again. Meanwhile the agent keeps collecting into its disk buffer, backs off, logs
// the failure once per interval naming the host, and once the name resolves every reading reaches
// whisper exactly once.
//
// The name is under the reserved .invalid TLD, and the agent's lookups are answered by
// dns-fault-preload.ts from a file this test rewrites: this host's resolver is not on loopback, so a
// real lookup would send a query off the machine.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { startCarbon } from "../../harness/carbon.ts";
import { freePort } from "../../harness/free-port.ts";
import { pollUntil } from "../../harness/poll.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { DESIGN_AUTH_FILE, startTestServer } from "../server/fixture.ts";
import {
  expectEveryRunOnce,
  ONLY_EXEC,
  makeDevice,
  readAgentStatus,
  spawnAgent,
  writeSequenceScript,
} from "./fixture.ts";

const DNS_PRELOAD = fileURLToPath(new URL("./dns-fault-preload.ts", import.meta.url));
const SERVER_NAME = "homeward-server.invalid";
/** Failed attempts to see before the name resolves again: enough that backing off shows. */
const FAILED_ATTEMPTS = 3;

function linesWith(text: string, ...parts: string[]): string[] {
  return text.split("\n").filter((line) => parts.every((part) => line.includes(part)));
}

test("the server's name does not resolve for a while: buffered, logged once, everything delivered once after", async (t) => {
  const carbon = await startCarbon({ t });
  const device = makeDevice("dns-pi");
  const server = await startTestServer({
    t,
    carbonPort: carbon.linePort,
    authText: `${DESIGN_AUTH_FILE}${device.authEntry}`,
    flags: { listen: [`http://127.0.0.1:${await freePort()}`] },
  });
  const answersFile = join(device.dir, "dns-answers.json");
  const lookupLog = join(device.dir, "dns-lookups.log");
  const answer = (address: string | null): void =>
    writeFileSync(answersFile, JSON.stringify({ [SERVER_NAME]: address }));
  answer(null);
  writeFileSync(lookupLog, "");
  const sequence = writeSequenceScript(device.dir);
  device.writeConfig({
    server: { url: `http://${SERVER_NAME}:${server.port("http")}` },
    clock: { sync_check: "none" },
    collect: { ...ONLY_EXEC, exec: [{ name: "dns", command: [sequence.path], schedule: "* * * * * *" }] },
  });
  const started = nowSeconds();
  const agent = spawnAgent(device, t, [], {
    preload: [DNS_PRELOAD],
    env: {
      HOMEWARD_TEST_DNS_FILE: answersFile,
      HOMEWARD_TEST_DNS_LOG: lookupLog,
      // One line for the whole outage: the interval is longer than the test.
      HOMEWARD_FAULT_LOG_INTERVAL: "10m",
    },
  });
  const metric = `homeward.${device.name}.exec.dns.seq`;
  const describe = (): string => `agent output:\n${agent.output()}`;

  // The agent fails, says why naming the host, and backs off; the readings wait on disk.
  const whileFailing = await pollUntil(
    () => {
      if (agent.exitStatus()) throw new Error(`the agent exited:\n${agent.output()}`);
      let status;
      try {
        status = readAgentStatus(device);
      } catch {
        return undefined;
      }
      return status.shipErrors >= FAILED_ATTEMPTS && status.nextAttemptAt !== null && status.buffer.depth > 0
        ? status
        : undefined;
    },
    { what: `${FAILED_ATTEMPTS} failed attempts in the status file`, timeoutMs: 90_000, describe },
  );
  assert.match(whileFailing.lastError?.message ?? "", new RegExp(`${SERVER_NAME}.*ENOTFOUND`));
  assert.equal(whileFailing.shippedLines, 0);
  const lastWhileFailing = sequence.last();

  // The name resolves again.
  answer("127.0.0.1");
  const { runs } = await expectEveryRunOnce({
    sequence,
    carbon,
    agent,
    metric,
    from: started - 1,
    waitMs: 150_000,
    describe,
  });
  assert.ok(lastWhileFailing >= 1, "readings were taken while the name did not resolve");

  // Logged once, with the name and the reason, for all the failed attempts; and once when over.
  const output = agent.output();
  const failures = linesWith(output, "fault=ship", SERVER_NAME, "ENOTFOUND");
  assert.equal(failures.length, 1, failures.join("\n"));
  assert.match(failures[0] ?? "", /name not found/);
  const recovered = linesWith(output, "fault=ship", "sending again after");
  assert.equal(recovered.length, 1, describe());
  const attempts = Number(/occurrences=(\d+)/.exec(recovered[0] ?? "")?.[1]);
  assert.ok(attempts >= FAILED_ATTEMPTS, recovered[0]);

  // The agent only ever asked for its server's name: no lookup could have left this machine.
  const lookups = readFileSync(lookupLog, "utf8").trim().split("\n");
  assert.deepEqual([...new Set(lookups.map((line) => line.split(" ")[0]))], [SERVER_NAME]);
  assert.ok(lookups.some((line) => line.endsWith(" 127.0.0.1")));
  t.diagnostic(
    `${runs.length} readings, ${lastWhileFailing} taken while ${SERVER_NAME} did not resolve; ` +
      `${attempts} failed attempts, logged in ${failures.length} line; ${lookups.length} lookups; all in whisper once`,
  );
});
