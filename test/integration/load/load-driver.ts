// The load of issue 8: one source floods `homeward server` with bad lines (50 k/s asked), many idle
// connections hang open (slowloris: partial lines and partial HTTP headers, trickled), and a real
// device posts its lines over HTTPS-style batches meanwhile. Shared by test/integration/load (a
// few seconds, in CI) and scripts/bench-load.ts (the full run, with figures). Everything is on
// 127.0.0.x and every loop ends by itself: by count and by the deadline.
import { connect } from "node:net";
import type { Socket } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { generateEd25519KeyPair, ed25519Signer, generateHmacSecret } from "../../../protocol/keys.ts";
import type { MessageSigner } from "../../../protocol/keys.ts";
import { canonicalMessage } from "../../../protocol/line.ts";
import { LOOPBACK } from "../../harness/free-port.ts";
import { registerSecret } from "../../harness/test-logs.ts";
import type { ServerChild } from "./server-process.ts";

export const DEVICE_KEY_ID = "load-device";
export const DEVICE_METRIC = "load.device.value";
/** A known key the flood forges lines for (not the device's: see {@link LoadOptions.floodDeviceKey}). */
const VICTIM_KEY_ID = "load-other";
export const FLOOD_SOURCE = "127.0.0.2";

export interface LoadKeys {
  readonly authText: string;
  readonly device: MessageSigner;
}

export function makeLoadKeys(): LoadKeys {
  const pair = generateEd25519KeyPair();
  registerSecret("load-device ed25519 secret key", pair.secretKey);
  const otherSecret = generateHmacSecret();
  registerSecret("load-other hmac secret", otherSecret);
  const publicKey = Buffer.from(pair.publicKey).toString("base64");
  return {
    authText:
      `apikeys:\n  ${DEVICE_KEY_ID}:\n    ed25519: ${publicKey}\n    metrics: ["load.device.**"]\n    rate: 1000\n    burst: 20000\n` +
      `  ${VICTIM_KEY_ID}:\n    secret_key: ${otherSecret}\n    metrics: ["load.other.**"]\n`,
    device: ed25519Signer(pair.secretKey),
  };
}

export interface LoadOptions {
  readonly durationMs: number;
  /** Asked rate of bad lines from one source. */
  readonly badLinesPerSecond: number;
  /** Open connections that send a byte now and then and never finish a line or a request. */
  readonly idleConnections: number;
  /** Of those, the share that are HTTP requests with unfinished headers. */
  readonly idleHttpShare: number;
  /** Idle connections per source address (the server allows 50 per address by default). */
  readonly idlePerSource: number;
  /** The device's lines per second, sent in batches of `deviceBatch` over HTTP. */
  readonly deviceLinesPerSecond: number;
  readonly deviceBatch: number;
  /** Forge the flood's lines under the device's own key id (the known limit: it drains its bucket). */
  readonly floodDeviceKey?: boolean;
}

export interface LoadResult {
  readonly seconds: number;
  readonly badLinesSent: number;
  readonly badLinesPerSecond: number;
  /** Lines the server counted as rejected during the run (all reasons, all keys). */
  readonly rejectedByServer: number;
  readonly floodReconnects: number;
  readonly idleOpened: number;
  readonly idleOpenAtEnd: number;
  readonly deviceSent: number;
  readonly deviceAccepted: number;
  readonly deviceRejected: Record<string, number>;
  readonly deviceFailedRequests: number;
  readonly deviceLatencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** The server's resident memory before the load, at its peak (VmHWM: over the process's life), after. */
  readonly rssBytes: { readonly before: number; readonly peak: number; readonly after: number };
  /** The lowest device timestamp used: the device's points are at [deviceFirstTimestamp, +deviceSent). */
  readonly deviceFirstTimestamp: number;
}

function badLines(count: number, floodDeviceKey: boolean): string[] {
  const now = Math.floor(Date.now() / 1000);
  const forgedKey = floodDeviceKey ? DEVICE_KEY_ID : VICTIM_KEY_ID;
  const forgedMetric = floodDeviceKey ? DEVICE_METRIC : "load.other.value";
  const signature88 = `${"A".repeat(86)}==`;
  const signature44 = `${"A".repeat(43)}=`;
  const kinds = [
    (index: number) => `garbage ${index}`,
    (index: number) => `load.flood ${index} ${now} unknown-key-${index % 50} ${signature44}`,
    (index: number) =>
      `${forgedMetric} ${index} ${now - (index % 600)} ${forgedKey} ${floodDeviceKey ? signature88 : signature44}`,
    (index: number) => `load.flood.${index} NaN ${now} ${VICTIM_KEY_ID} ${signature44}`,
    (index: number) => `load.flood\t${index} ${now} x y`,
  ];
  return Array.from({ length: count }, (_, index) =>
    (kinds[index % kinds.length] as (index: number) => string)(index),
  );
}

async function rejectedTotal(server: ServerChild): Promise<number> {
  const text = await server.metrics();
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("homeward_server_lines_rejected_total{"))
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

function openSocket(port: number, localAddress: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port, localAddress });
    socket.once("connect", () => resolve(socket));
    socket.once("error", () => resolve(undefined));
    socket.on("error", () => undefined);
  });
}

/** Slowloris: connections that trickle a byte every few seconds and never complete anything. */
async function openIdle(server: ServerChild, options: LoadOptions, deadline: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  const httpCount = Math.round(options.idleConnections * options.idleHttpShare);
  for (let index = 0; index < options.idleConnections && Date.now() < deadline; index += 100) {
    const batch = Array.from({ length: Math.min(100, options.idleConnections - index) }, (_, offset) => {
      const number = index + offset;
      const source = `127.0.0.${10 + Math.floor(number / options.idlePerSource)}`;
      return openSocket(number < httpCount ? server.httpPort : server.tcpPort, source).then((socket) => {
        if (!socket) return;
        socket.write(number < httpCount ? "POST /v1/lines HTTP/1.1\r\nHost: x\r\n" : "load.idle.value 1");
        sockets.push(socket);
      });
    });
    await Promise.all(batch);
  }
  return sockets;
}

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] as number;
}

/** Runs the load against `server` for `options.durationMs` and reports what happened. */
export async function runLoad(
  server: ServerChild,
  keys: LoadKeys,
  options: LoadOptions,
): Promise<LoadResult> {
  const rssBefore = server.memory().rssBytes;
  const rejectedBefore = await rejectedTotal(server);
  const setupDeadline = Date.now() + 30_000;
  const idle = await openIdle(server, options, setupDeadline);
  const idleOpened = idle.length;

  const started = performance.now();
  const endAt = started + options.durationMs;
  let peak = rssBefore;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, server.memory().rssBytes);
    } catch {
      // the process is gone: the caller's assertRunning() says so
    }
  }, 200);

  // Trickle: a byte per idle connection every 2 s keeps them clear of the idle timeout.
  const trickle = setInterval(() => {
    for (const socket of idle)
      if (!socket.destroyed) socket.write(socket.remotePort === server.httpPort ? "X" : "1");
  }, 2000);

  // The flood: one source, chunks every 10 ms, honouring backpressure.
  const pool = badLines(5000, options.floodDeviceKey ?? false);
  let badLinesSent = 0;
  let floodReconnects = 0;
  const flood = (async () => {
    const perTick = Math.max(1, Math.round(options.badLinesPerSecond / 100));
    let cursor = 0;
    let socket: Socket | undefined;
    while (performance.now() < endAt) {
      if (!socket || socket.destroyed) {
        if (socket) floodReconnects++;
        socket = await openSocket(server.tcpPort, FLOOD_SOURCE);
        if (!socket) {
          await delay(50);
          continue;
        }
      }
      const tickStart = performance.now();
      // Lines due by now at the asked rate (catching up after a slow tick, but never more than a second's worth).
      const due = Math.min(
        options.badLinesPerSecond,
        Math.round(((tickStart - started) / 1000) * options.badLinesPerSecond) - badLinesSent,
      );
      if (due > 0) {
        const lines: string[] = [];
        for (let index = 0; index < Math.min(due, perTick * 5); index++) {
          lines.push(pool[cursor] as string);
          cursor = (cursor + 1) % pool.length;
        }
        const ok = socket.write(`${lines.join("\n")}\n`);
        badLinesSent += lines.length;
        if (!ok) {
          const current = socket;
          await Promise.race([
            new Promise((resolve) => current.once("drain", resolve)),
            new Promise((resolve) => current.once("close", resolve)),
            delay(Math.max(0, endAt - performance.now())),
          ]);
        }
      }
      await delay(10);
    }
    if (socket && !socket.destroyed) {
      const current = socket;
      await new Promise<void>((resolve) => current.end(() => resolve()));
    }
  })();

  // The device: batches over HTTP (keep-alive), each line signed and distinct.
  const deviceFirstTimestamp = Math.floor(Date.now() / 1000) - 3 * 86_400;
  let deviceSent = 0;
  let deviceAccepted = 0;
  let deviceFailedRequests = 0;
  const deviceRejected: Record<string, number> = {};
  const latencies: number[] = [];
  const device = (async () => {
    const interval = (1000 * options.deviceBatch) / options.deviceLinesPerSecond;
    while (performance.now() < endAt) {
      const tickStart = performance.now();
      const lines = Array.from({ length: options.deviceBatch }, () => {
        const index = deviceSent++;
        const message = canonicalMessage({
          metric: DEVICE_METRIC,
          value: String(index),
          timestamp: deviceFirstTimestamp + index,
          keyId: DEVICE_KEY_ID,
        });
        return `${message} ${keys.device.sign(message)}`;
      });
      try {
        const response = await fetch(`http://${LOOPBACK}:${server.httpPort}/v1/lines`, {
          method: "POST",
          body: `${lines.join("\n")}\n`,
          signal: AbortSignal.timeout(15_000),
        });
        const reply = (await response.json()) as { accepted: number; rejected: Record<string, number> };
        deviceAccepted += reply.accepted;
        for (const [reason, count] of Object.entries(reply.rejected))
          deviceRejected[reason] = (deviceRejected[reason] ?? 0) + count;
      } catch {
        deviceFailedRequests++;
      }
      latencies.push(performance.now() - tickStart);
      await delay(Math.max(0, interval - (performance.now() - tickStart)));
    }
  })();

  await Promise.all([flood, device]);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(trickle);
  const idleOpenAtEnd = idle.filter((socket) => !socket.destroyed).length;
  // Reset, as an attacker would: a polite close would hand the server each partial line to refuse.
  for (const socket of idle) socket.resetAndDestroy();
  // Let the server finish what it read, then read its counters and memory.
  let rejectedByServer = 0;
  for (let attempt = 0; attempt < 100; attempt++) {
    rejectedByServer = (await rejectedTotal(server)) - rejectedBefore;
    if (rejectedByServer >= badLinesSent) break;
    await delay(100);
  }
  clearInterval(sampler);
  const after = server.memory();
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    seconds,
    badLinesSent,
    badLinesPerSecond: badLinesSent / seconds,
    rejectedByServer,
    floodReconnects,
    idleOpened,
    idleOpenAtEnd,
    deviceSent,
    deviceAccepted,
    deviceRejected,
    deviceFailedRequests,
    deviceLatencyMs: {
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      max: sorted[sorted.length - 1] ?? 0,
    },
    rssBytes: { before: rssBefore, peak: Math.max(peak, after.peakBytes), after: after.rssBytes },
    deviceFirstTimestamp,
  };
}
