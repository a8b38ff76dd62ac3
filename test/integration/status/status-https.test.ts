import assert from "node:assert/strict";
import { request } from "node:https";
import { test } from "node:test";
import { createTestPki } from "../../harness/certs.ts";
import { LOOPBACK, startTestServer } from "../server/fixture.ts";

function getStatus(
  port: number,
  ca: string,
  authorization?: string,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: LOOPBACK,
        port,
        path: "/status.json",
        servername: "localhost",
        ca,
        headers: authorization ? { authorization } : {},
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, body, headers: response.headers }),
        );
      },
    );
    req.once("error", reject);
    req.end();
  });
}

test("an https:// status address serves the page over TLS with the server's certificate", async (t) => {
  const pki = await createTestPki({ t });
  // Client certificates for devices (mTLS) do not apply to the status page: a browser has none.
  const server = await startTestServer({
    t,
    carbonPort: 1,
    flags: {
      listen: [`tls://${LOOPBACK}:0`],
      "tls-cert": pki.server.certFile,
      "tls-key": pki.server.keyFile,
      "tls-client-ca": pki.caFile,
      "status-addr": `https://${LOOPBACK}:0`,
      "status-users": "owner:Tr0ubadour-Four",
    },
  });
  const port = server.server.statusAddress?.port;
  assert.ok(port, "no status listener");
  assert.equal(server.server.statusAddress?.scheme, "https");

  const anonymous = await getStatus(port, pki.ca);
  assert.equal(anonymous.status, 401);
  const good = await getStatus(
    port,
    pki.ca,
    `Basic ${Buffer.from("owner:Tr0ubadour-Four").toString("base64")}`,
  );
  assert.equal(good.status, 200, good.body);
  assert.equal(good.headers["cache-control"], "no-store");
  const json = JSON.parse(good.body) as { devices: { key_id: string; state: string }[] };
  assert.deepEqual(
    json.devices.map((device) => [device.key_id, device.state]),
    [
      ["grandma-pi", "active"],
      ["my_public_key", "active"],
      ["my_public_key2", "active"],
    ],
  );
});
