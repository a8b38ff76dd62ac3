// Load benchmark for issue 8: `homeward server` under 50 k bad lines/s from one source plus 1000
// idle (slowloris) connections, while a device posts its lines; prints the figures for BENCHMARKS.md.
//
//   node --import tsx scripts/bench-load.ts
//   LOAD_SECONDS=60 LOAD_BAD_RATE=50000 LOAD_IDLE=1000 node --import tsx scripts/bench-load.ts
//
// Scenarios, each on a fresh server process in front of one real carbon-cache:
//   budget off       --max-failures 0: every bad line is parsed and refused (the hardest case)
//   defaults         the failure budget cuts the flooding address off (200 failures a minute)
//   forged key id    the flood forges lines under the device's own key id, failure budget on
//   forged, no budget  the same with --max-failures 0: the known limit (the key's bucket drains)
// Everything runs on 127.0.0.x; every loop stops by itself (count and deadline).
//
// "bad lines/s written" is what the flooder wrote; "decided by server" is what the server parsed
// and refused (from its counters). With the failure budget on, the flooding address is cut off and
// refused at connect, so the two differ: most of the flood never reaches the parser.
import { startCarbon } from "../test/harness/carbon.ts";
import { makeLoadKeys, runLoad } from "../test/integration/load/load-driver.ts";
import type { LoadResult } from "../test/integration/load/load-driver.ts";
import { spawnServerChild } from "../test/integration/load/server-process.ts";

const env = process.env;
const SECONDS = Number(env.LOAD_SECONDS ?? 30);
const BAD_RATE = Number(env.LOAD_BAD_RATE ?? 50_000);
const IDLE = Number(env.LOAD_IDLE ?? 1000);
const MiB = 1024 * 1024;

const scenarios: { name: string; flags: string[]; floodDeviceKey: boolean }[] = [
  { name: "budget off", flags: ["--max-failures", "0"], floodDeviceKey: false },
  { name: "defaults", flags: [], floodDeviceKey: false },
  { name: "forged key id", flags: [], floodDeviceKey: true },
  { name: "forged, no budget", flags: ["--max-failures", "0"], floodDeviceKey: true },
];

function row(name: string, result: LoadResult, alive: boolean): string {
  const pct = result.deviceSent > 0 ? (100 * result.deviceAccepted) / result.deviceSent : 0;
  const mib = (bytes: number): string => (bytes / MiB).toFixed(0);
  return [
    name,
    `${Math.round(result.badLinesPerSecond)}`,
    `${result.rejectedByServer}`,
    `${result.floodReconnects}`,
    `${result.idleOpened}/${result.idleOpenAtEnd}`,
    `${result.deviceAccepted}/${result.deviceSent} (${pct.toFixed(2)} %)`,
    `${result.deviceLatencyMs.p50.toFixed(0)}/${result.deviceLatencyMs.p99.toFixed(0)}`,
    `${mib(result.rssBytes.before)}/${mib(result.rssBytes.peak)}/${mib(result.rssBytes.after)}`,
    alive ? "up" : "DOWN",
  ].join(" | ");
}

console.log(
  `bench-load: ${SECONDS} s per scenario, ${BAD_RATE} bad lines/s asked from 127.0.0.2, ${IDLE} idle connections ` +
    `(10 % HTTP) from 127.0.0.10+ (50 per address), a device posting 100 lines/s in batches of 10 from 127.0.0.1`,
);
const carbon = await startCarbon();
const lines: string[] = [];
let ok = true;
try {
  for (const scenario of scenarios) {
    const keys = makeLoadKeys();
    const server = await spawnServerChild({
      authText: keys.authText,
      carbonAddr: `127.0.0.1:${carbon.linePort}`,
      flags: scenario.flags,
      name: `bench-load-${scenario.name.replace(/\W+/g, "-")}`,
    });
    try {
      const result = await runLoad(server, keys, {
        durationMs: SECONDS * 1000,
        badLinesPerSecond: BAD_RATE,
        idleConnections: IDLE,
        idleHttpShare: 0.1,
        idlePerSource: 50,
        deviceLinesPerSecond: 100,
        deviceBatch: 10,
        floodDeviceKey: scenario.floodDeviceKey,
      });
      const alive = server.proc.exitStatus() === undefined;
      ok &&= alive;
      lines.push(row(scenario.name, result, alive));
      console.log(
        `${scenario.name}: done; device rejected ${JSON.stringify(result.deviceRejected)}, ${result.deviceFailedRequests} failed requests`,
      );
    } finally {
      await server.stop();
    }
  }
} finally {
  await carbon.dispose();
}
console.log(
  "\n| scenario | bad lines/s written | decided by server | flood reconnects | idle opened/open at end | device accepted | device p50/p99 ms | server RSS before/peak/after MiB | server |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const line of lines) console.log(`| ${line} |`);
process.exit(ok ? 0 : 1);
