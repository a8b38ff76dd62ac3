import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ControlRejectReason,
  controlTopics,
  deviceOfTopic,
  isPublishTopic,
  linesSubscription,
  MAX_CONTROL_MESSAGE_BYTES,
  newNonce,
  openControlMessage,
  signControlMessage,
} from "../../../protocol/control-message.ts";
import type { ControlMessage } from "../../../protocol/control-message.ts";
import {
  ed25519Signer,
  ed25519Verifier,
  generateEd25519KeyPair,
  hmacSigner,
} from "../../../protocol/keys.ts";

const owner = generateEd25519KeyPair();
const other = generateEd25519KeyPair();
const signer = ed25519Signer(owner.secretKey);
const verifiers = [ed25519Verifier(owner.publicKey)];
const NOW_MS = 1_764_000_000_000;

function message(overrides: Partial<ControlMessage> = {}): ControlMessage {
  return {
    v: 1,
    device: "grandma-pi",
    op: "update",
    body: { "collect.net.ping": ["1.1.1.1"] },
    ts: NOW_MS / 1000,
    nonce: newNonce(),
    ...overrides,
  };
}

function open(text: string, options: { nowMs?: number; device?: string } = {}) {
  return openControlMessage(Buffer.from(text), {
    verifiers,
    device: options.device ?? "grandma-pi",
    nowMs: options.nowMs ?? NOW_MS,
  });
}

function reason(text: string, options: { nowMs?: number; device?: string } = {}): string {
  const opened = open(text, options);
  return opened.ok ? "ok" : opened.reason;
}

describe("control messages", () => {
  it("round-trips: the signed payload is the exact text that is parsed", () => {
    const sent = message({ reply_to: "homeward/grandma-pi/reply/abc" });
    const envelope = signControlMessage(sent, signer);
    const parsed = JSON.parse(envelope) as { payload: string; sig: string };
    assert.equal(parsed.payload, JSON.stringify(sent));
    assert.equal(Buffer.from(parsed.sig, "base64").length, 64);
    const opened = open(envelope);
    assert.ok(opened.ok);
    assert.deepEqual(opened.message, sent);
  });

  it("takes any of several owner keys (rotation)", () => {
    const envelope = signControlMessage(message(), ed25519Signer(other.secretKey));
    assert.equal(reason(envelope), ControlRejectReason.BadSignature);
    const opened = openControlMessage(Buffer.from(envelope), {
      verifiers: [ed25519Verifier(owner.publicKey), ed25519Verifier(other.publicKey)],
      device: "grandma-pi",
      nowMs: NOW_MS,
    });
    assert.ok(opened.ok);
  });

  it("names why a message is refused", () => {
    const good = JSON.parse(signControlMessage(message(), signer)) as { payload: string; sig: string };
    assert.equal(reason(good.payload), ControlRejectReason.Unsigned, "a bare payload");
    assert.equal(reason(JSON.stringify({ payload: good.payload })), ControlRejectReason.Unsigned);
    assert.equal(reason(JSON.stringify({ payload: good.payload, sig: "" })), ControlRejectReason.Unsigned);
    assert.equal(
      reason(JSON.stringify({ payload: good.payload.replace("1.1.1.1", "6.6.6.6"), sig: good.sig })),
      ControlRejectReason.BadSignature,
      "a payload changed after signing",
    );
    assert.equal(
      reason(JSON.stringify({ payload: good.payload, sig: "abc" })),
      ControlRejectReason.BadSignature,
    );
    assert.equal(
      reason(signControlMessage(message(), ed25519Signer(other.secretKey))),
      ControlRejectReason.BadSignature,
    );
    assert.equal(reason("{not json"), ControlRejectReason.Malformed);
    assert.equal(reason("[1,2]"), ControlRejectReason.Malformed);
    assert.equal(reason(JSON.stringify({ payload: 3, sig: good.sig })), ControlRejectReason.Malformed);
    assert.equal(reason("x".repeat(MAX_CONTROL_MESSAGE_BYTES + 1)), ControlRejectReason.TooLarge);
    assert.equal(
      reason(signControlMessage(message(), signer), { device: "uncle-pi" }),
      ControlRejectReason.WrongDevice,
    );
  });

  it("checks the payload's fields once the signature holds", () => {
    const signed = (fields: Record<string, unknown>): string => {
      const payload = JSON.stringify({ ...message(), ...fields });
      return JSON.stringify({ payload, sig: signer.sign(payload) });
    };
    assert.equal(reason(signed({ op: "drop" })), ControlRejectReason.Malformed);
    assert.equal(reason(signed({ v: 2 })), ControlRejectReason.Malformed);
    assert.equal(reason(signed({ nonce: "short" })), ControlRejectReason.Malformed);
    assert.equal(reason(signed({ ts: 1.5 })), ControlRejectReason.Malformed);
    assert.equal(reason(signed({ reply_to: "homeward/#" })), ControlRejectReason.Malformed);
    assert.equal(reason(signed({ reply_to: "$SYS/x" })), ControlRejectReason.Malformed);
    assert.equal(reason(signed({ device: "a b" })), ControlRejectReason.Malformed);
    const payload = "not json at all";
    assert.equal(
      reason(JSON.stringify({ payload, sig: signer.sign(payload) })),
      ControlRejectReason.Malformed,
    );
  });

  it("refuses a ts more than 5 minutes off, either way", () => {
    const at = (offsetMs: number): string =>
      signControlMessage(message({ ts: (NOW_MS + offsetMs) / 1000 }), signer);
    assert.equal(reason(at(-10 * 60_000)), ControlRejectReason.Stale);
    assert.equal(reason(at(+6 * 60_000)), ControlRejectReason.Stale);
    assert.equal(reason(at(-5 * 60_000)), "ok");
    assert.equal(reason(at(+4 * 60_000)), "ok");
    const stale = open(at(-10 * 60_000));
    assert.ok(!stale.ok && /10 min old/.test(stale.detail), JSON.stringify(stale));
  });

  it("refuses to sign with an hmac key", () => {
    assert.throws(() => signControlMessage(message(), hmacSigner("secret")), /ed25519/);
  });

  it("names the topics", () => {
    const topics = controlTopics("grandma-pi");
    assert.equal(topics.control, "homeward/grandma-pi/control");
    assert.equal(topics.config, "homeward/grandma-pi/config");
    assert.equal(topics.status, "homeward/grandma-pi/status");
    assert.equal(topics.lines, "homeward/grandma-pi/lines");
    assert.equal(topics.replyTo("n1"), "homeward/grandma-pi/reply/n1");
    assert.equal(controlTopics("x", "family/homeward").status, "family/homeward/x/status");
    assert.equal(linesSubscription(), "$share/homeward/homeward/+/lines");
    assert.equal(deviceOfTopic("homeward/grandma-pi/lines"), "grandma-pi");
    assert.equal(deviceOfTopic("homeward//lines"), undefined);
    assert.equal(deviceOfTopic("other/grandma-pi/lines"), undefined);
    assert.ok(isPublishTopic("homeward/grandma-pi/reply/abc"));
    assert.ok(!isPublishTopic("homeward/+/x"));
    assert.ok(!isPublishTopic(""));
    assert.ok(!isPublishTopic("a\0b"));
  });
});
