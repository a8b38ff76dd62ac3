/**
 * The home-network probes behind the `net` collector. Each takes its target, a timeout and an abort
 * signal, and resolves to a result (never rejects for a failed probe: an unreachable target is a
 * reading, not an error). node:dns/promises, node:http and node:https are imported by the first
 * probe that needs them: the default config has no dns or http probes.
 */
import type { ClientRequest, IncomingMessage } from "node:http";
import { connect } from "node:net";
import { CommandError } from "../../hardware/command.ts";
import type { CommandRunner } from "../../hardware/command.ts";
import { monotonicMs } from "../../runtime/clock/monotonic.ts";
import { loadBuiltin } from "../run/lazy-builtin.ts";

// ---------------------------------------------------------------- ping

export interface PingSummary {
  readonly transmitted: number;
  readonly received: number;
  readonly lossPct: number;
  readonly rttMinMs?: number;
  readonly rttAvgMs?: number;
  readonly rttMaxMs?: number;
}

/**
 * Parses the summary iputils (and busybox) ping print:
 *   3 packets transmitted, 3 received, 0% packet loss, time 405ms
 *   rtt min/avg/max/mdev = 0.030/0.041/0.054/0.009 ms
 */
export function parsePingSummary(text: string): PingSummary | undefined {
  const counts = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(text);
  if (!counts) return undefined;
  const transmitted = Number(counts[1]);
  const received = Math.min(Number(counts[2]), transmitted);
  const lossPct = transmitted > 0 ? round3((100 * (transmitted - received)) / transmitted) : 100;
  const rtt = /(?:rtt|round-trip) min\/avg\/max(?:\/(?:mdev|stddev))? = ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(
    text,
  );
  if (!rtt || received === 0) return { transmitted, received, lossPct };
  return {
    transmitted,
    received,
    lossPct,
    rttMinMs: Number(rtt[1]),
    rttAvgMs: Number(rtt[2]),
    rttMaxMs: Number(rtt[3]),
  };
}

export interface PingOptions {
  readonly count: number;
  /** Per-reply wait; the whole run is bounded by count × 0.2 s + this. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  readonly run: CommandRunner;
}

/** The ping command line: numeric output, summary only, 200 ms apart (the least a non-root user may ask). */
export function pingArgv(host: string, count: number, timeoutMs: number): string[] {
  const wait = String(waitSeconds(timeoutMs));
  const deadline = String(pingDeadlineSeconds(count, timeoutMs));
  return ["ping", "-n", "-q", "-c", String(count), "-i", "0.2", "-W", wait, "-w", deadline, host];
}

function waitSeconds(timeoutMs: number): number {
  return Math.max(1, Math.ceil(timeoutMs / 1000));
}

/** ping's own deadline (`-w`): every packet sent, plus one reply wait. */
export function pingDeadlineSeconds(count: number, timeoutMs: number): number {
  return Math.ceil(count * 0.2) + waitSeconds(timeoutMs);
}

/**
 * Pings with the system's ping (no raw-socket privileges needed in the agent). Undefined when ping
 * itself could not run or printed no summary (an unknown host); the caller reports that as loss.
 */
export async function ping(host: string, options: PingOptions): Promise<PingSummary | undefined> {
  try {
    const result = await options.run(pingArgv(host, options.count, options.timeoutMs), {
      timeoutMs: pingDeadlineSeconds(options.count, options.timeoutMs) * 1000 + 2000,
      signal: options.signal,
      maxOutputBytes: 64 * 1024,
    });
    return parsePingSummary(result.stdout);
  } catch (error) {
    if (error instanceof CommandError && error.code === "aborted") throw error;
    if (error instanceof CommandError) return parsePingSummary(error.stdout);
    throw error;
  }
}

// ---------------------------------------------------------------- tcp

export type ProbeResult =
  | { readonly ok: true; readonly ms: number }
  | { readonly ok: false; readonly error: string; readonly ms?: number };

/** Time from connect() to an established connection (DNS resolution included for a host name). */
export function tcpConnect(
  host: string,
  port: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const started = monotonicMs();
    const socket = connect({ host, port });
    const finish = (result: ProbeResult): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, error: "timeout" }), timeoutMs);
    const onAbort = (): void => finish({ ok: false, error: "aborted" });
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => finish({ ok: true, ms: round3(monotonicMs() - started) }));
    socket.once("error", (error: NodeJS.ErrnoException) =>
      finish({ ok: false, error: error.code ?? error.message }),
    );
  });
}

// ---------------------------------------------------------------- dns

export type DnsRecordType = "A" | "AAAA";

/** DNS error codes that mean the resolver answered (the name just has no such record). */
const ANSWERED_CODES = new Set(["ENOTFOUND", "ENODATA"]);

/**
 * One lookup against one resolver (`192.168.1.1`, `127.0.0.1:5353`, `[::1]:53`), or the system's
 * resolvers when none is given. A negative answer still has a lookup time; a timeout has none.
 */
export async function dnsLookup(
  name: string,
  type: DnsRecordType,
  server: string | undefined,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  const { Resolver } = await loadBuiltin("node:dns/promises");
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  if (server !== undefined) resolver.setServers([server]);
  const onAbort = (): void => resolver.cancel();
  signal?.addEventListener("abort", onAbort, { once: true });
  const started = monotonicMs();
  try {
    const answers = type === "A" ? await resolver.resolve4(name) : await resolver.resolve6(name);
    const ms = round3(monotonicMs() - started);
    return answers.length > 0 ? { ok: true, ms } : { ok: false, error: "ENODATA", ms };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    const ms = round3(monotonicMs() - started);
    return ANSWERED_CODES.has(code) ? { ok: false, error: code, ms } : { ok: false, error: code };
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

// ---------------------------------------------------------------- http

export type HttpResult =
  | { readonly ok: boolean; readonly status: number; readonly ms: number }
  | { readonly ok: false; readonly error: string };

/**
 * A GET on a fresh connection (no keep-alive, so DNS, TCP and TLS count, as for a first visit).
 * The time is to the response headers; the body is discarded. Redirects are reported, not followed.
 */
export async function httpCheck(url: string, timeoutMs: number, signal?: AbortSignal): Promise<HttpResult> {
  const { request } = await loadBuiltin(url.startsWith("https:") ? "node:https" : "node:http");
  return new Promise((resolve) => {
    const started = monotonicMs();
    let settled = false;
    let req: ClientRequest;
    const finish = (result: HttpResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      req.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, error: "timeout" }), timeoutMs);
    const onAbort = (): void => finish({ ok: false, error: "aborted" });
    try {
      req = request(url, { method: "GET", agent: false, headers: { "user-agent": "homeward-agent" } });
    } catch (error) {
      clearTimeout(timer);
      resolve({ ok: false, error: (error as Error).message });
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    req.once("response", (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      response.resume();
      finish({ ok: status >= 200 && status < 400, status, ms: round3(monotonicMs() - started) });
    });
    req.once("error", (error: NodeJS.ErrnoException) =>
      finish({ ok: false, error: error.code ?? error.message }),
    );
    req.end();
  });
}

// ---------------------------------------------------------------- wifi

export interface IwLink {
  readonly connected: boolean;
  readonly signalDbm?: number;
  readonly txBitrateMbps?: number;
  readonly rxBitrateMbps?: number;
  readonly frequencyMhz?: number;
}

/**
 * Parses `iw dev wlan0 link`:
 *   Connected to aa:bb:cc:dd:ee:ff (on wlan0)
 *           signal: -41 dBm
 *           rx bitrate: 65.0 MBit/s MCS 7
 *           tx bitrate: 72.2 MBit/s MCS 7 short GI
 */
export function parseIwLink(text: string): IwLink {
  if (!/^Connected to /m.test(text)) return { connected: false };
  const number = (pattern: RegExp): number | undefined => {
    const match = pattern.exec(text);
    return match ? Number(match[1]) : undefined;
  };
  const link: { -readonly [K in keyof IwLink]: IwLink[K] } = { connected: true };
  const signal = number(/^\s*signal:\s*(-?\d+(?:\.\d+)?) dBm/m);
  const tx = number(/^\s*tx bitrate:\s*([\d.]+) MBit\/s/m);
  const rx = number(/^\s*rx bitrate:\s*([\d.]+) MBit\/s/m);
  const frequency = number(/^\s*freq:\s*([\d.]+)/m);
  if (signal !== undefined) link.signalDbm = signal;
  if (tx !== undefined) link.txBitrateMbps = tx;
  if (rx !== undefined) link.rxBitrateMbps = rx;
  if (frequency !== undefined) link.frequencyMhz = frequency;
  return link;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
