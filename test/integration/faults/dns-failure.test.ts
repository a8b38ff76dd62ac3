import assert from "node:assert/strict";
import dns from "node:dns";
import type { LookupAddress, LookupOptions } from "node:dns";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { sendLines } from "../server/fixture.ts";
import { faultLines, makeFaultKey, startFaultServer, waitForMetric } from "./support.ts";
import type { FaultServer } from "./support.ts";

const CARBON_HOST = "carbon.invalid";

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * The system resolver, replaced for one name: node:net looks names up through dns.lookup at
 * connect time, so a test can make `carbon.invalid` fail (as getaddrinfo does when the resolver is
 * unreachable) and later resolve to 127.0.0.1, without any packet leaving this machine.
 */
function fakeResolver(): { broken: boolean; lookups: number; restore(): void } {
  const original = dns.lookup;
  const state = {
    broken: true,
    lookups: 0,
    restore: () => {
      dns.lookup = original;
    },
  };
  const replacement = (hostname: string, options: unknown, callback?: unknown): void => {
    const done = (typeof options === "function" ? options : callback) as LookupCallback;
    const wantsAll =
      typeof options === "object" && options !== null && (options as LookupOptions).all === true;
    if (hostname !== CARBON_HOST) {
      (original as (...args: unknown[]) => void)(hostname, options, callback);
      return;
    }
    state.lookups++;
    process.nextTick(() => {
      if (state.broken) {
        const error: NodeJS.ErrnoException = new Error(`getaddrinfo EAI_AGAIN ${hostname}`);
        error.code = "EAI_AGAIN";
        error.syscall = "getaddrinfo";
        done(error, "");
      } else if (wantsAll) done(null, [{ address: "127.0.0.1", family: 4 }]);
      else done(null, "127.0.0.1", 4);
    });
  };
  dns.lookup = replacement as typeof dns.lookup;
  return state;
}

describe("fault: DNS failing for Carbon's name", () => {
  let carbon: Carbon;
  let server: FaultServer;
  let resolver: ReturnType<typeof fakeResolver>;
  const key = makeFaultKey();
  before(async () => {
    carbon = await startCarbon();
    resolver = fakeResolver();
    server = await startFaultServer({
      carbonAddr: `${CARBON_HOST}:${carbon.linePort}`,
      authText: key.authText,
      name: "fault-dns",
    });
  });
  after(async () => {
    await server?.close();
    resolver?.restore();
    await carbon?.dispose();
  });

  test("the server starts and keeps running, says once that Carbon cannot be reached and why, spools, and delivers everything once the name resolves", async () => {
    const metric = "fault.dns.value";
    const start = nowSeconds() - 2000;
    const lines = faultLines(key, metric, 600, start);
    const failingSince = Date.now();
    for (let offset = 0; offset < 600; offset += 100) {
      await sendLines(server.port("tcp"), lines.slice(offset, offset + 100));
      await delay(200);
    }
    await waitForMetric(server, "homeward_server_spool_lines", (depth) => depth === 600);
    assert.equal(await server.sample("homeward_server_carbon_connections_up"), 0);
    // Let the reconnect loop fail a few more times.
    await pollLookups(resolver, 6);
    const failingSeconds = (Date.now() - failingSince) / 1000;

    const warnings = server.logsMatching(/Carbon connection down/);
    assert.ok(warnings.length >= 1, "the failure is logged");
    assert.match(String(warnings[0]?.error), /EAI_AGAIN carbon\.invalid/, "with the resolver's error");
    assert.ok(
      warnings.length <= 1 + Math.floor(failingSeconds / 60),
      `${warnings.length} warnings for ${resolver.lookups} failed lookups in ${failingSeconds.toFixed(1)} s`,
    );

    resolver.broken = false;
    const points = await carbon.waitForPoints(metric, 600, { from: start - 1, timeoutMs: 30_000 });
    assert.deepEqual(
      points.map(([timestamp, value]) => [timestamp - start, value]),
      lines.map((_, index) => [index, index]),
    );
    await waitForMetric(server, "homeward_server_spool_lines", (depth) => depth === 0);
    assert.equal(server.logsMatching(/connected to Carbon/).length, 1);
  });
});

async function pollLookups(resolver: { lookups: number }, atLeast: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (resolver.lookups < atLeast && Date.now() < deadline) await delay(100);
  assert.ok(resolver.lookups >= atLeast, `only ${resolver.lookups} lookups`);
}
