// The server's TLS certificate goes wrong: it expires, then is replaced by one from a CA the agent
// does not trust, then by one from the right CA but with a key that is not the pinned one. The
// agent sends nothing to a server it does not trust (the server sees no line), logs each reason
// once, keeps buffering, and once the right certificate is back (the server reloads its files as
// they change) every reading reaches whisper exactly once.
//
// Everything here is real: the certificates are made with openssl (an expired one with `openssl
// ca`, see certs.ts), the server serves them from files and the agent checks them.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { test } from "node:test";
import { spkiSha256 } from "../../../agent/transports/server-identity.ts";
import { startCarbon } from "../../harness/carbon.ts";
import { createTestPki, issueServerCertificate } from "../../harness/certs.ts";
import type { CertificatePair } from "../../harness/certs.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { freePort } from "../../harness/free-port.ts";
import { pollUntil } from "../../harness/poll.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { DESIGN_AUTH_FILE, replaceFile, startTestServer } from "../server/fixture.ts";
import type { TestServer } from "../server/fixture.ts";
import {
  expectEveryRunOnce,
  ONLY_EXEC,
  makeDevice,
  readAgentStatus,
  spawnAgent,
  writeSequenceScript,
} from "./fixture.ts";

function linesWith(text: string, ...parts: string[]): string[] {
  return text.split("\n").filter((line) => parts.every((part) => line.includes(part)));
}

/** Lines the server got from `key`, accepted or refused for any reason. */
function linesSeen(metrics: string, key: string): number {
  return metrics
    .split("\n")
    .filter((line) => /^homeward_server_lines_(accepted|rejected)_total\{/.test(line))
    .filter((line) => line.includes(`key="${key}"`))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

test("an expired, untrusted or unpinned server certificate: nothing sent, each reason logged once, all delivered once it is right again", async (t) => {
  const carbon = await startCarbon({ t });
  const pki = await createTestPki({ t });
  const otherPki = await createTestPki({ t });
  const expired = await issueServerCertificate(pki, "expired", {
    validity: { notBefore: new Date("2020-01-01T00:00:00Z"), notAfter: new Date("2020-01-02T00:00:00Z") },
  });
  const rekeyed = await issueServerCertificate(pki, "rekeyed");
  const device = makeDevice("cert-pi");
  const tlsDir = makeTempDir("server-tls");
  const certFile = join(tlsDir, "server.crt");
  const keyFile = join(tlsDir, "server.key");
  const serve = (pair: CertificatePair): void => {
    replaceFile(keyFile, pair.key);
    replaceFile(certFile, pair.cert);
  };
  serve(pki.server);
  const port = await freePort();
  const startServer = (): Promise<TestServer> =>
    startTestServer({
      t,
      carbonPort: carbon.linePort,
      authText: `${DESIGN_AUTH_FILE}${device.authEntry}`,
      flags: { listen: [`https://127.0.0.1:${port}`], "tls-cert": certFile, "tls-key": keyFile },
    });
  let server = await startServer();
  const sequence = writeSequenceScript(device.dir);
  device.writeConfig({
    server: {
      url: `https://127.0.0.1:${port}`,
      ca_file: pki.caFile,
      pin_sha256: spkiSha256(new X509Certificate(pki.server.cert).raw),
    },
    clock: { sync_check: "none" },
    collect: { ...ONLY_EXEC, exec: [{ name: "cert", command: [sequence.path], schedule: "* * * * * *" }] },
  });
  const started = nowSeconds();
  const agent = spawnAgent(device, t, [], {
    env: { HOMEWARD_FAULT_LOG_INTERVAL: "10m", HOMEWARD_FATAL_PAUSE: "1s" },
  });
  const metric = `homeward.${device.name}.exec.cert.seq`;
  const describe = (): string => `agent output:\n${agent.output()}\nserver log:\n${server.logs.text()}`;

  // All is well: readings flow.
  await carbon.waitForPoints(metric, 2, { from: started - 1, timeoutMs: 30_000, describe });

  // Each bad certificate in turn. The first needs a new server: the agent's kept-alive connection
  // was checked when it was made. After that no connection is ever made, and a reload is enough.
  let reloads = 0;
  const reloaded = async (): Promise<void> => {
    reloads++;
    await pollUntil(
      () => (linesWith(server.logs.text(), "TLS certificate reloaded").length >= reloads ? true : undefined),
      { what: "the server to reload its certificate", describe },
    );
  };
  const faults = [
    { name: "expired", pair: expired, reason: "the server's certificate has expired, CERT_HAS_EXPIRED" },
    {
      name: "from an untrusted CA",
      pair: otherPki.server,
      reason: "the server's certificate is not trusted, UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    },
    {
      name: "not the pinned key",
      pair: rekeyed,
      reason: "the server's certificate is not the pinned one, ERR_HOMEWARD_PIN_MISMATCH",
    },
  ];
  let shipErrors = 0;
  for (const [index, fault] of faults.entries()) {
    serve(fault.pair);
    if (index === 0) {
      await server.close();
      server = await startServer();
    } else {
      await reloaded();
    }
    // Refused at least twice for this reason (logged once): polled from the status file, which
    // says what went wrong last in the same words.
    const before = shipErrors;
    const status = await pollUntil(
      () => {
        if (agent.exitStatus()) throw new Error(`the agent exited:\n${agent.output()}`);
        const current = readAgentStatus(device);
        return current.lastError?.message.includes(fault.reason) && current.shipErrors >= before + 2
          ? current
          : undefined;
      },
      { what: `the agent to refuse a certificate ${fault.name}`, timeoutMs: 60_000, describe },
    );
    shipErrors = status.shipErrors;
    assert.equal(linesSeen(await server.metrics(), device.name), 0, `a line reached a server ${fault.name}`);
  }
  const lastWhileRefused = sequence.last();
  const bufferedWhileRefused = readAgentStatus(device).buffer.depth;

  // The right certificate is back.
  serve(pki.server);
  await reloaded();
  const { runs } = await expectEveryRunOnce({
    sequence,
    carbon,
    agent,
    metric,
    from: started - 1,
    waitMs: 90_000,
    describe,
  });
  assert.ok(bufferedWhileRefused > 0, "readings waited in the buffer while the certificate was wrong");

  // Each reason in its own words, once, however often it was refused.
  const output = agent.output();
  for (const fault of faults) {
    const logged = linesWith(output, "fault=ship", `did not trust 127.0.0.1 (${fault.reason})`);
    assert.equal(logged.length, 1, `certificate ${fault.name}:\n${logged.join("\n")}`);
  }
  t.diagnostic(
    `${runs.length} readings, ${lastWhileRefused} taken by the time the right certificate was back; ` +
      `${shipErrors} refused attempts (expired, untrusted CA, pin mismatch), each reason logged once; ` +
      `no line reached the server meanwhile; all in whisper once`,
  );
});
