// Every probe here targets 127.0.0.1 or a server this file starts there; nothing leaves the machine.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import type { Socket as UdpSocket } from "node:dgram";
import { createServer as createHttpServer } from "node:http";
import type { Server as HttpServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
import type { AddressInfo, Server as TcpServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { NetCollector } from "../../../../agent/collectors/net.ts";
import type { NetCollectorOptions } from "../../../../agent/collectors/net.ts";
import {
  dnsLookup,
  httpCheck,
  parseIwLink,
  parsePingSummary,
  pingArgv,
  tcpConnect,
} from "../../../../agent/collectors/net-probes.ts";
import { parseDefaultRoute, parseWireless } from "../../../../agent/collectors/procfs.ts";
import { readFileSync } from "node:fs";
import { cannedRunner, FIXTURES, RecordingLogger } from "../collect-fakes.ts";

const IPUTILS_OK = `PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.

--- 127.0.0.1 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time 405ms
rtt min/avg/max/mdev = 0.030/0.041/0.054/0.009 ms
`;
const IPUTILS_PARTIAL = `--- 192.168.1.1 ping statistics ---
3 packets transmitted, 2 received, 33.3333% packet loss, time 2003ms
rtt min/avg/max/mdev = 1.201/3.456/5.711/2.255 ms
`;
const IPUTILS_NONE = `--- 10.9.9.9 ping statistics ---
3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2040ms
`;
const BUSYBOX = `--- 127.0.0.1 ping statistics ---
3 packets transmitted, 3 packets received, 0% packet loss
round-trip min/avg/max = 0.040/0.050/0.060 ms
`;
const IW_CONNECTED = `Connected to aa:bb:cc:dd:ee:ff (on wlan0)
	SSID: Oma
	freq: 2437
	RX: 1234567 bytes (8901 packets)
	TX: 234567 bytes (2345 packets)
	signal: -49 dBm
	rx bitrate: 65.0 MBit/s MCS 7
	tx bitrate: 72.2 MBit/s MCS 7 short GI
`;

function context(log = new RecordingLogger()) {
  return { now: Date.UTC(2026, 10, 23, 12), signal: new AbortController().signal, log };
}

function options(overrides: Partial<NetCollectorOptions>): NetCollectorOptions {
  return {
    root: join(FIXTURES, "bare"),
    ping: [],
    pingCount: 2,
    tcp: [],
    dns: [],
    http: [],
    gateway: false,
    wifi: false,
    timeoutMs: 1000,
    concurrency: 4,
    ...overrides,
  };
}

function values(readings: { name: string; value: number }[]): Record<string, number> {
  return Object.fromEntries(readings.map((reading) => [reading.name, reading.value]));
}

// ---------------------------------------------------------------- a tiny DNS server

/** Answers A queries for `known.test` with 127.0.0.7, NXDOMAIN for anything else, never for `slow.test`. */
function dnsAnswer(query: Buffer): Buffer | undefined {
  let offset = 12;
  const labels: string[] = [];
  while (offset < query.length && query[offset] !== 0) {
    const length = query[offset] as number;
    labels.push(query.subarray(offset + 1, offset + 1 + length).toString("ascii"));
    offset += length + 1;
  }
  const questionEnd = offset + 5;
  const name = labels.join(".").toLowerCase();
  if (name === "slow.test") return undefined;
  const known = name === "known.test";
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  header.writeUInt16BE(known ? 0x8180 : 0x8183, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(known ? 1 : 0, 6);
  const question = query.subarray(12, questionEnd);
  if (!known) return Buffer.concat([header, question]);
  const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 7]);
  return Buffer.concat([header, question, answer]);
}

describe("net probes", () => {
  let tcpServer: TcpServer;
  let httpServer: HttpServer;
  let dnsServer: UdpSocket;
  let tcpPort = 0;
  let closedPort = 0;
  let httpPort = 0;
  let dnsPort = 0;

  before(async () => {
    tcpServer = createTcpServer((socket) => socket.end());
    await new Promise<void>((resolve) => tcpServer.listen(0, "127.0.0.1", resolve));
    tcpPort = (tcpServer.address() as AddressInfo).port;

    const closed = createTcpServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    httpServer = createHttpServer((request, response) => {
      response.statusCode = request.url === "/broken" ? 500 : request.url === "/moved" ? 301 : 204;
      response.end();
    });
    await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    httpPort = (httpServer.address() as AddressInfo).port;

    dnsServer = createSocket("udp4");
    dnsServer.on("message", (message, remote) => {
      const reply = dnsAnswer(message);
      if (reply) dnsServer.send(reply, remote.port, remote.address);
    });
    await new Promise<void>((resolve) => dnsServer.bind(0, "127.0.0.1", resolve));
    dnsPort = dnsServer.address().port;
  });

  after(async () => {
    await new Promise<void>((resolve) => tcpServer.close(() => resolve()));
    await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    await new Promise<void>((resolve) => dnsServer.close(() => resolve()));
  });

  it("parses iputils and busybox ping summaries", () => {
    assert.deepEqual(parsePingSummary(IPUTILS_OK), {
      transmitted: 3,
      received: 3,
      lossPct: 0,
      rttMinMs: 0.03,
      rttAvgMs: 0.041,
      rttMaxMs: 0.054,
    });
    assert.equal(parsePingSummary(IPUTILS_PARTIAL)?.lossPct, 33.333);
    assert.deepEqual(parsePingSummary(IPUTILS_NONE), { transmitted: 3, received: 0, lossPct: 100 });
    assert.equal(parsePingSummary(BUSYBOX)?.rttAvgMs, 0.05);
    assert.equal(parsePingSummary("ping: nowhere.invalid: Name or service not known\n"), undefined);
    assert.deepEqual(pingArgv("127.0.0.1", 3, 1000), [
      "ping",
      "-n",
      "-q",
      "-c",
      "3",
      "-i",
      "0.2",
      "-W",
      "1",
      "-w",
      "2",
      "127.0.0.1",
    ]);
  });

  it("times a TCP connection, and reports a refused one as not ok", async () => {
    const open = await tcpConnect("127.0.0.1", tcpPort, 1000);
    assert.equal(open.ok, true);
    assert.ok(open.ok && open.ms >= 0 && open.ms < 1000);
    assert.deepEqual(await tcpConnect("127.0.0.1", closedPort, 1000), { ok: false, error: "ECONNREFUSED" });
  });

  it("times a DNS lookup against a chosen resolver; a negative answer has a time, silence has none", async () => {
    const server = `127.0.0.1:${dnsPort}`;
    const known = await dnsLookup("known.test", "A", server, 1000);
    assert.equal(known.ok, true);
    const unknown = await dnsLookup("unknown.test", "A", server, 1000);
    assert.equal(unknown.ok, false);
    assert.ok(!unknown.ok && unknown.error === "ENOTFOUND" && unknown.ms !== undefined);
    const silent = await dnsLookup("slow.test", "A", server, 300);
    assert.deepEqual(silent, { ok: false, error: "ETIMEOUT" });
  });

  it("reports HTTP status and time, without following redirects", async () => {
    const ok = await httpCheck(`http://127.0.0.1:${httpPort}/`, 1000);
    assert.ok("status" in ok && ok.status === 204 && ok.ok);
    const broken = await httpCheck(`http://127.0.0.1:${httpPort}/broken`, 1000);
    assert.ok("status" in broken && broken.status === 500 && !broken.ok);
    const moved = await httpCheck(`http://127.0.0.1:${httpPort}/moved`, 1000);
    assert.ok("status" in moved && moved.status === 301 && moved.ok);
    assert.deepEqual(await httpCheck(`http://127.0.0.1:${closedPort}/`, 1000), {
      ok: false,
      error: "ECONNREFUSED",
    });
  });

  it("the collector runs every probe and names each target as one segment", async () => {
    const collector = new NetCollector(
      options({
        ping: [{ host: "127.0.0.1", label: "127_0_0_1" }],
        tcp: [
          { host: "127.0.0.1", port: tcpPort, label: "local_open" },
          { host: "127.0.0.1", port: closedPort, label: "local_closed" },
        ],
        dns: [
          { name: "known.test", type: "A", resolver: `127.0.0.1:${dnsPort}`, label: "known_test_via_local" },
        ],
        http: [{ url: `http://127.0.0.1:${httpPort}/`, label: "local_http" }],
      }),
    );
    const result = values(await collector.collect(context()));
    assert.equal(result["ping.127_0_0_1.loss_pct"], 0, "the system ping reaches loopback");
    assert.ok((result["ping.127_0_0_1.rtt_ms"] ?? -1) >= 0);
    assert.equal(result["tcp.local_open.ok"], 1);
    assert.ok((result["tcp.local_open.connect_ms"] ?? -1) >= 0);
    assert.equal(result["tcp.local_closed.ok"], 0);
    assert.equal("tcp.local_closed.connect_ms" in result, false);
    assert.equal(result["dns.known_test_via_local.ok"], 1);
    assert.equal(result["http.local_http.status"], 204);
    assert.equal(result["http.local_http.ok"], 1);
  });

  it("an unknown ping target counts as total loss", async () => {
    const collector = new NetCollector(
      options({
        ping: [{ host: "nowhere.invalid", label: "nowhere" }],
        run: cannedRunner({
          [pingArgv("nowhere.invalid", 2, 1000).join(" ")]: {
            exitCode: 2,
            stderr: "ping: nowhere.invalid: Name or service not known\n",
          },
        }),
      }),
    );
    assert.deepEqual(values(await collector.collect(context())), { "ping.nowhere.loss_pct": 100 });
  });

  it("pings the default gateway from /proc/net/route (lowest metric first)", async () => {
    const route = readFileSync(join(FIXTURES, "pi4-bookworm/proc/net/route"), "utf8");
    assert.deepEqual(parseDefaultRoute(route), { iface: "eth0", gateway: "127.0.0.1" });
    const collector = new NetCollector(options({ root: join(FIXTURES, "pi4-bookworm"), gateway: true }));
    const result = values(await collector.collect(context()));
    assert.equal(result["gateway.default_route"], 1);
    assert.equal(result["gateway.loss_pct"], 0);
    assert.ok((result["gateway.rtt_ms"] ?? -1) >= 0);

    const noRoute = new NetCollector(options({ root: join(FIXTURES, "bare"), gateway: true }));
    assert.deepEqual(values(await noRoute.collect(context())), { "gateway.default_route": 0 });
  });

  it("reads Wi-Fi signal from /proc and bitrates from iw", async () => {
    const wireless = readFileSync(join(FIXTURES, "pi4-bookworm/proc/net/wireless"), "utf8");
    assert.deepEqual(parseWireless(wireless), [{ iface: "wlan0", linkQuality: 58, signalDbm: -52 }]);
    assert.deepEqual(parseIwLink(IW_CONNECTED), {
      connected: true,
      signalDbm: -49,
      txBitrateMbps: 72.2,
      rxBitrateMbps: 65,
      frequencyMhz: 2437,
    });
    assert.deepEqual(parseIwLink("Not connected.\n"), { connected: false });

    const collector = new NetCollector(
      options({
        root: join(FIXTURES, "pi4-bookworm"),
        wifi: true,
        run: cannedRunner({ "iw dev wlan0 link": { stdout: IW_CONNECTED } }),
      }),
    );
    assert.deepEqual(values(await collector.collect(context())), {
      "wifi.wlan0.connected": 1,
      "wifi.wlan0.tx_bitrate_mbps": 72.2,
      "wifi.wlan0.rx_bitrate_mbps": 65,
      "wifi.wlan0.frequency_mhz": 2437,
      "wifi.wlan0.signal_dbm": -49,
      "wifi.wlan0.link_quality": 58,
    });
  });

  it("without iw, Wi-Fi signal still comes from /proc, and iw is not tried again", async () => {
    const calls: string[] = [];
    const log = new RecordingLogger();
    const collector = new NetCollector(
      options({ root: join(FIXTURES, "pi4-bookworm"), wifi: true, run: cannedRunner({}, calls) }),
    );
    assert.deepEqual(values(await collector.collect(context(log))), {
      "wifi.wlan0.signal_dbm": -52,
      "wifi.wlan0.link_quality": 58,
    });
    await collector.collect(context(log));
    assert.deepEqual(calls, ["iw dev wlan0 link"]);
    assert.equal(log.at("info").length, 1);
  });

  it("reports nothing for Wi-Fi on a machine without it", async () => {
    const collector = new NetCollector(
      options({ root: join(FIXTURES, "bare"), wifi: true, run: cannedRunner({}) }),
    );
    assert.deepEqual(await collector.collect(context()), []);
  });
});
