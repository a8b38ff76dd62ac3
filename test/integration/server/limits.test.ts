import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { closedByPeer, LOOPBACK, openConnection, sample, startTestServer, waitForSample } from "./fixture.ts";
import type { TestServer } from "./fixture.ts";

describe("connection caps and the idle timeout", () => {
  let carbon: Carbon;
  let server: TestServer;
  before(async () => {
    carbon = await startCarbon();
    server = await startTestServer({
      carbonPort: carbon.linePort,
      flags: { "max-connections-per-source": "2", "max-connections": "3", "idle-timeout": "300ms" },
    });
  });
  after(async () => {
    await server?.close();
    await carbon?.dispose();
  });

  test("a third connection from one address is dropped; another address still gets in up to the total", async () => {
    const port = server.port("tcp");
    const first = await openConnection(port, "127.0.0.5");
    const second = await openConnection(port, "127.0.0.5");
    const third = await openConnection(port, "127.0.0.5");
    await closedByPeer(third);
    const other = await openConnection(port, "127.0.0.6");
    const overTotal = await openConnection(port, "127.0.0.7");
    await closedByPeer(overTotal);
    const metrics = await server.metrics();
    assert.equal(
      sample(metrics, "homeward_server_connections_refused_total", {
        why: "too_many_connections_from_source",
      }),
      1,
    );
    assert.equal(
      sample(metrics, "homeward_server_connections_refused_total", { why: "too_many_connections" }),
      1,
    );
    for (const socket of [first, second, other]) socket.destroy();
  });

  test("a connection that sends nothing is closed after the idle timeout", async () => {
    await waitForSample(
      () => server.metrics(),
      "homeward_server_connections_open",
      {},
      (open) => open === 0,
    );
    const socket = await openConnection(server.port("tcp"), "127.0.0.8");
    await closedByPeer(socket, 3000);
    assert.ok(
      sample(await server.metrics(), "homeward_server_connections_refused_total", { why: "idle_timeout" }) >=
        1,
    );
  });

  test("/healthz answers ok while the forwarder takes lines", async () => {
    const response = await fetch(`http://${LOOPBACK}:${server.server.metricsAddress?.port}/healthz`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(body.status, "ok");
    assert.equal(body.auth_file_ok, true);
  });
});

describe("the server's own counters go to Carbon", () => {
  let carbon: Carbon;
  let server: TestServer;
  before(async () => {
    carbon = await startCarbon();
    server = await startTestServer({
      carbonPort: carbon.linePort,
      flags: { "stats-interval": "1s", "stats-prefix": "homeward.server.testhost" },
    });
  });
  after(async () => {
    await server?.close();
    await carbon?.dispose();
  });

  test("under homeward.server.<host>.*, every interval", async () => {
    const points = await carbon.waitForPoints("homeward.server.testhost.lines.accepted", 2, {
      from: Math.floor(Date.now() / 1000) - 60,
    });
    assert.ok(points.every(([, value]) => value === 0));
    await carbon.waitForPoints("homeward.server.testhost.forward.carbon_connections_up", 1, {
      from: Math.floor(Date.now() / 1000) - 60,
    });
  });
});
