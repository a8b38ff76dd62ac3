import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { ed25519Signer, hmacSigner } from "../../../protocol/keys.ts";
import type { MessageSigner } from "../../../protocol/keys.ts";
import { canonicalMessage } from "../../../protocol/line.ts";
import { LOOPBACK } from "../../harness/free-port.ts";
import { pollUntil } from "../../harness/poll.ts";
import { nowSeconds } from "../../harness/whisper.ts";
import { loadEd25519Vectors, loadHmacVectors } from "../../support/vectors.ts";
import { startFaultServer } from "../faults/support.ts";
import type { FaultServer } from "../faults/support.ts";

/** Every way a signature could be written out: base64 (padded or not), base64url, hex. */
function forms(signature: string): string[] {
  const bytes = Buffer.from(signature, "base64");
  return [signature, signature.replace(/=+$/, ""), bytes.toString("base64url"), bytes.toString("hex")];
}

interface BadLine {
  readonly why: string;
  readonly line: string;
  /** The signature the server would have needed, which the test can compute and the server must never show. */
  readonly expected: string;
}

describe("no reply and no log line ever holds the signature a bad line should have had", () => {
  let server: FaultServer;
  const hmac = loadHmacVectors()[0];
  const ed = loadEd25519Vectors().vectors[0];
  if (!hmac || !ed) throw new Error("vectors missing");
  const signers: Record<string, MessageSigner> = {
    [hmac.key_id]: hmacSigner(hmac.secret_key),
    [ed.key_id]: ed25519Signer(Buffer.from(ed.secret_key, "base64")),
  };
  before(async () => {
    server = await startFaultServer({
      // Nothing listens there: accepted lines would be spooled, but none of these is accepted.
      carbonAddr: `${LOOPBACK}:9`,
      authText:
        `apikeys:\n  ${hmac.key_id}:\n    secret_key: ${hmac.secret_key}\n    metrics: ["secret.**"]\n` +
        `  ${ed.key_id}:\n    ed25519: ${ed.public_key}\n    metrics: ["secret.**"]\n`,
      flags: { "log-level": "debug", "max-failures": "0" },
      name: "secrets-expected-signature",
    });
  });
  after(async () => {
    await server?.close();
  });

  function badLines(): BadLine[] {
    const now = nowSeconds();
    const lines: BadLine[] = [];
    for (const [keyId, signer] of Object.entries(signers)) {
      const sigBytes = signer.algorithm === "hmac" ? 32 : 64;
      const make = (
        metric: string,
        timestamp: number,
        signature: (expected: string) => string,
        why: string,
      ): void => {
        const message = canonicalMessage({ metric, value: "42.5", timestamp, keyId });
        const expected = signer.sign(message);
        lines.push({ why: `${keyId}: ${why}`, line: `${message} ${signature(expected)}`, expected });
      };
      make("secret.a", now - 10, () => randomBytes(sigBytes).toString("base64"), "forged, right length");
      make(
        "secret.b",
        now - 11,
        (expected) => `${expected[0] === "A" ? "B" : "A"}${expected.slice(1)}`,
        "one character off",
      );
      make("secret.c", now - 12, () => randomBytes(sigBytes - 1).toString("base64"), "wrong length");
      make("secret.d", now - 13, () => "!!!!", "not base64");
      make("elsewhere.e", now - 14, () => randomBytes(sigBytes).toString("base64"), "outside the ACL");
      make("secret.f", now + 7200, () => randomBytes(sigBytes).toString("base64"), "in the future");
      make("secret.g", now - 30 * 86_400, () => randomBytes(sigBytes).toString("base64"), "too old");
      make("secret.h", now - 15, (expected) => `${expected}\t`, "a tab after it");
    }
    return lines;
  }

  test("over TCP nothing at all is written back, and the log never shows the expected signature", async () => {
    const lines = badLines();
    const received = await new Promise<Buffer>((resolve, reject) => {
      const socket = connect({ host: LOOPBACK, port: server.port("tcp") });
      const chunks: Buffer[] = [];
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("error", reject);
      socket.on("close", () => resolve(Buffer.concat(chunks)));
      socket.end(lines.map(({ line }) => `${line}\n`).join(""));
    });
    assert.equal(received.length, 0, "the line protocol never answers");
    const rejected = await server.sample("homeward_server_lines_rejected_total", {
      key: hmac.key_id,
      reason: "bad_signature",
    });
    assert.ok(rejected >= 2);
    assertNowhere(
      lines,
      server
        .logs()
        .map((entry) => JSON.stringify(entry))
        .join("\n"),
      "the server's log",
    );
  });

  test("over HTTP the reply says why, by line, and never what the signature should have been", async () => {
    const lines = badLines();
    const response = await fetch(`http://${LOOPBACK}:${server.port("http")}/v1/lines`, {
      method: "POST",
      body: `${lines.map(({ line }) => line).join("\n")}\n`,
    });
    const text = await response.text();
    assert.equal(response.status, 200);
    const reply = JSON.parse(text) as { accepted: number; errors: { reason: string }[] };
    assert.equal(reply.accepted, 0);
    assert.ok(reply.errors.length > 0);
    assertNowhere(lines, text, "the HTTP reply");
    assertNowhere(
      lines,
      server
        .logs()
        .map((entry) => JSON.stringify(entry))
        .join("\n"),
      "the server's log",
    );
    assertNowhere(lines, await server.metrics(), "/metrics");
  });

  test("a genuine signature a client sent (a duplicate line) is cut short in the log too, so the log cannot be replayed", async () => {
    const signer = signers[hmac.key_id] as MessageSigner;
    const message = canonicalMessage({
      metric: "secret.dup",
      value: "1",
      timestamp: nowSeconds() - 5,
      keyId: hmac.key_id,
    });
    const line = `${message} ${signer.sign(message)}`;
    const post = (): Promise<Response> =>
      fetch(`http://${LOOPBACK}:${server.port("http")}/v1/lines`, { method: "POST", body: `${line}\n` });
    assert.equal(((await (await post()).json()) as { accepted: number }).accepted, 1);
    // Sent again until the rejection log (20 at once, then 5/s, spent by the tests above) logs one.
    const logged = await pollUntil(
      async () => {
        const reply = (await (await post()).json()) as { rejected: Record<string, number> };
        assert.deepEqual(reply.rejected, { duplicate: 1 });
        const found = server.logs().filter((entry) => entry.reason === "duplicate");
        return found.length > 0 ? found : undefined;
      },
      { what: "a logged duplicate", intervalMs: 100 },
    );
    assertNowhere(
      [{ why: "duplicate", line, expected: signer.sign(message) }],
      JSON.stringify(logged),
      "the log",
    );
  });
});

function assertNowhere(lines: readonly BadLine[], haystack: string, where: string): void {
  for (const { why, expected } of lines) {
    for (const form of forms(expected)) {
      assert.ok(!haystack.includes(form), `${where} shows the expected signature (${why})`);
    }
  }
}
