import assert from "node:assert/strict";
import { test } from "node:test";
import {
  formatListenAddress,
  parseHostPort,
  parseListenAddress,
  sourceAddress,
} from "../../../../server-stub/listeners/listen-address.ts";

test("listen addresses: schemes, bare host:port, IPv6 and Go's :port", () => {
  assert.deepEqual(parseListenAddress("tls://0.0.0.0:2006"), { scheme: "tls", host: "0.0.0.0", port: 2006 });
  assert.deepEqual(parseListenAddress("127.0.0.1:2005"), { scheme: "tcp", host: "127.0.0.1", port: 2005 });
  assert.deepEqual(parseListenAddress("https://[::1]:2443/"), { scheme: "https", host: "::1", port: 2443 });
  assert.deepEqual(parseHostPort(":2005", "--addr"), { host: "0.0.0.0", port: 2005 });
  assert.equal(formatListenAddress({ scheme: "https", host: "::1", port: 2443 }), "https://[::1]:2443");
  for (const bad of ["udp://1.2.3.4:5", "host", "host:99999", "tcp://:x"])
    assert.throws(() => parseListenAddress(bad), bad);
});

test("IPv4-mapped IPv6 sources count as their IPv4 address", () => {
  assert.equal(sourceAddress("::ffff:127.0.0.2"), "127.0.0.2");
  assert.equal(sourceAddress("::1"), "::1");
  assert.equal(sourceAddress(undefined), "unknown");
});
