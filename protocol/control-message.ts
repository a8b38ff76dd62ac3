import { randomBytes } from "node:crypto";
import { decodeBase64Exact, SIGNATURE_BYTES } from "./keys.ts";
import type { MessageSigner, MessageVerifier } from "./keys.ts";

/**
 * The MQTT control plane's wire format, shared by the agent (agent/control/) and `homeward ctl`.
 *
 * What is published on `homeward/<device>/control` is an envelope:
 *
 *   {"payload": "<the payload's JSON text>", "sig": "<base64 Ed25519 signature of the payload's UTF-8 bytes>"}
 *
 * The signature covers the payload's exact bytes, carried as a JSON string, so there is nothing to
 * canonicalize: the verifier checks the very text it then parses. The payload is
 *
 *   {"v": 1, "device": "grandma-pi", "op": "update", "body": {...}, "ts": 1764000000, "nonce": "...", "reply_to": "..."}
 *
 * `device` binds a message to one device: a message copied from one device's topic to another's is
 * refused (`wrong_device`). `ts` is whole Unix seconds; `nonce` is 16 random bytes, base64url.
 */

export const CONTROL_MESSAGE_VERSION = 1;
export const DEFAULT_TOPIC_PREFIX = "homeward";
/** A control message may be at most this many bytes (the envelope as received). */
export const MAX_CONTROL_MESSAGE_BYTES = 64 * 1024;
/** How far a message's `ts` may be from the device's clock, either way. */
export const DEFAULT_CONTROL_SKEW_MS = 5 * 60_000;

export const CONTROL_OPS = ["update", "delete", "read"] as const;
export type ControlOp = (typeof CONTROL_OPS)[number];

/** Why a control message was refused; the same code in logs, counters and the status message. */
export const ControlRejectReason = {
  /** Over MAX_CONTROL_MESSAGE_BYTES. */
  TooLarge: "too_large",
  /** Not a JSON envelope at all, or a payload that is not a well-formed message. */
  Malformed: "malformed",
  /** No signature: a bare payload, or an envelope without `sig`. */
  Unsigned: "unsigned",
  /** A signature that no configured owner key verifies. */
  BadSignature: "bad_signature",
  /** Signed for another device. */
  WrongDevice: "wrong_device",
  /** `ts` more than the allowed skew (default 5 min) from the device's clock. */
  Stale: "stale",
  /** A nonce already seen. */
  Replayed: "replayed",
  /** Signed and fresh, but the body is not what the op takes, or the config it makes is invalid. */
  BadBody: "bad_body",
} as const;
export type ControlRejectReason = (typeof ControlRejectReason)[keyof typeof ControlRejectReason];
export const ALL_CONTROL_REJECT_REASONS: readonly ControlRejectReason[] = Object.values(ControlRejectReason);

export interface ControlMessage {
  readonly v: typeof CONTROL_MESSAGE_VERSION;
  readonly device: string;
  readonly op: ControlOp;
  /** update: an object of (dotted) keys; delete: a list of keys, or none for all; read: none. */
  readonly body?: unknown;
  /** Whole Unix seconds. */
  readonly ts: number;
  readonly nonce: string;
  /** Where the answer goes; without it, `read` answers on `<prefix>/<device>/config`. */
  readonly reply_to?: string;
}

export interface ControlTopics {
  /** In: signed control messages. */
  readonly control: string;
  /** Out, retained: the config snapshot (secrets redacted). */
  readonly config: string;
  /** Out, retained: presence (`online` …, or the `offline` last will). */
  readonly status: string;
  /** Out, QoS 1: batches of signed lines (the mqtt transport). */
  readonly lines: string;
  /** Where `homeward ctl` asks for answers: `<prefix>/<device>/reply/<nonce>`. */
  replyTo(nonce: string): string;
}

export function controlTopics(device: string, prefix: string = DEFAULT_TOPIC_PREFIX): ControlTopics {
  const base = `${prefix}/${device}`;
  return {
    control: `${base}/control`,
    config: `${base}/config`,
    status: `${base}/status`,
    lines: `${base}/lines`,
    replyTo: (nonce) => `${base}/reply/${nonce}`,
  };
}

/** Every device's status (`homeward ctl devices`). */
export function statusWildcard(prefix: string = DEFAULT_TOPIC_PREFIX): string {
  return `${prefix}/+/status`;
}

/**
 * The server's subscription to every device's lines. A shared subscription: several servers (or a
 * restarted one) split the messages instead of each getting all of them.
 */
export function linesSubscription(prefix: string = DEFAULT_TOPIC_PREFIX, group = "homeward"): string {
  return `$share/${group}/${prefix}/+/lines`;
}

/** `homeward/grandma-pi/lines` → `grandma-pi`; undefined for any other shape. */
export function deviceOfTopic(topic: string, prefix: string = DEFAULT_TOPIC_PREFIX): string | undefined {
  const parts = topic.split("/");
  if (parts.length !== 3 || parts[0] !== prefix) return undefined;
  const device = parts[1] as string;
  return device.length > 0 ? device : undefined;
}

/** A topic a message may be published to: no wildcards, no `$` system topics, no NUL, 1-256 chars. */
export function isPublishTopic(topic: string): boolean {
  return (
    topic.length > 0 &&
    topic.length <= 256 &&
    !topic.startsWith("$") &&
    !/[+#]/.test(topic) &&
    !topic.includes("\0") &&
    Buffer.byteLength(topic) <= 256
  );
}

export function newNonce(): string {
  return randomBytes(16).toString("base64url");
}

const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const DEVICE = /^[A-Za-z0-9_-]{1,64}$/;

/** Builds, signs and wraps a message; returns the envelope's JSON text, ready to publish. */
export function signControlMessage(message: ControlMessage, signer: MessageSigner): string {
  if (signer.algorithm !== "ed25519") throw new Error("control messages are signed with an ed25519 key");
  const payload = JSON.stringify(message);
  return JSON.stringify({ payload, sig: signer.sign(payload) });
}

export type OpenedControlMessage =
  | { readonly ok: true; readonly message: ControlMessage }
  | { readonly ok: false; readonly reason: ControlRejectReason; readonly detail: string };

export interface OpenOptions {
  /** Any one may verify the message (several while the owner rotates keys). */
  readonly verifiers: readonly MessageVerifier[];
  /** The receiving device's name. */
  readonly device: string;
  readonly nowMs: number;
  readonly maxSkewMs?: number;
}

/**
 * The stateless checks, cheapest first and the signature before anything in the payload is
 * believed: size, envelope, signature, payload shape, device, time. Replay (state) and the body's
 * meaning (the config schema) are the receiver's.
 */
export function openControlMessage(bytes: Uint8Array, options: OpenOptions): OpenedControlMessage {
  const fail = (reason: ControlRejectReason, detail: string): OpenedControlMessage => ({
    ok: false,
    reason,
    detail,
  });
  if (bytes.length > MAX_CONTROL_MESSAGE_BYTES) {
    return fail(ControlRejectReason.TooLarge, `${bytes.length} bytes (at most ${MAX_CONTROL_MESSAGE_BYTES})`);
  }
  let envelope: unknown;
  try {
    envelope = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return fail(ControlRejectReason.Malformed, "not JSON");
  }
  if (!isObject(envelope)) return fail(ControlRejectReason.Malformed, "not a JSON object");
  if (!("payload" in envelope)) {
    return "op" in envelope
      ? fail(ControlRejectReason.Unsigned, "a bare message without an envelope and signature")
      : fail(ControlRejectReason.Malformed, "no payload");
  }
  const { payload, sig } = envelope;
  if (typeof payload !== "string") return fail(ControlRejectReason.Malformed, "payload is not a string");
  if (sig === undefined || sig === null || sig === "") {
    return fail(ControlRejectReason.Unsigned, "no sig");
  }
  if (typeof sig !== "string") return fail(ControlRejectReason.BadSignature, "sig is not a string");
  const signature = decodeBase64Exact(sig, SIGNATURE_BYTES.ed25519);
  if (signature === undefined) {
    return fail(ControlRejectReason.BadSignature, "sig is not 64 bytes of padded base64");
  }
  if (!options.verifiers.some((verifier) => verifier.verify(payload, signature))) {
    return fail(ControlRejectReason.BadSignature, "no owner key verifies it");
  }

  let data: unknown;
  try {
    data = JSON.parse(payload);
  } catch {
    return fail(ControlRejectReason.Malformed, "payload is not JSON");
  }
  if (!isObject(data)) return fail(ControlRejectReason.Malformed, "payload is not a JSON object");
  if (data.v !== CONTROL_MESSAGE_VERSION) {
    return fail(ControlRejectReason.Malformed, `v: expected ${CONTROL_MESSAGE_VERSION}`);
  }
  if (typeof data.device !== "string" || !DEVICE.test(data.device)) {
    return fail(ControlRejectReason.Malformed, "device: expected a device name");
  }
  if (typeof data.op !== "string" || !(CONTROL_OPS as readonly string[]).includes(data.op)) {
    return fail(ControlRejectReason.Malformed, `op: expected one of ${CONTROL_OPS.join(", ")}`);
  }
  if (typeof data.ts !== "number" || !Number.isSafeInteger(data.ts) || data.ts < 0) {
    return fail(ControlRejectReason.Malformed, "ts: expected whole Unix seconds");
  }
  if (typeof data.nonce !== "string" || !NONCE.test(data.nonce)) {
    return fail(ControlRejectReason.Malformed, "nonce: expected 16-64 base64url characters");
  }
  if (data.reply_to !== undefined && (typeof data.reply_to !== "string" || !isPublishTopic(data.reply_to))) {
    return fail(ControlRejectReason.Malformed, "reply_to: expected a topic without wildcards");
  }
  if (data.device !== options.device) {
    return fail(ControlRejectReason.WrongDevice, `signed for ${data.device}`);
  }
  const skewMs = options.maxSkewMs ?? DEFAULT_CONTROL_SKEW_MS;
  const offsetMs = data.ts * 1000 - options.nowMs;
  if (Math.abs(offsetMs) > skewMs) {
    const minutes = Math.round(Math.abs(offsetMs) / 6000) / 10;
    return fail(
      ControlRejectReason.Stale,
      `ts is ${minutes} min ${offsetMs < 0 ? "old" : "ahead"} (allowed: ${skewMs / 60_000} min)`,
    );
  }
  return { ok: true, message: data as unknown as ControlMessage };
}

/** The agent's answer on `reply_to`: the outcome, and the config snapshot after it. */
export interface ControlReply {
  readonly v: typeof CONTROL_MESSAGE_VERSION;
  readonly device: string;
  readonly nonce: string;
  readonly op: ControlOp;
  readonly ok: boolean;
  /** Set when ok is false. */
  readonly reason?: ControlRejectReason;
  /** Why the body was refused, one line per problem. */
  readonly problems?: readonly string[];
  /** delete: keys that were not overridden. */
  readonly missing?: readonly string[];
  /** The change was saved but applying it live failed (it takes effect at the next restart). */
  readonly apply_error?: string;
  readonly snapshot?: ConfigSnapshot;
}

/** The retained `config` message. Secrets (passwords, keys, exec env values) are redacted. */
export interface ConfigSnapshot {
  readonly v: typeof CONTROL_MESSAGE_VERSION;
  readonly device: string;
  /** Whole Unix seconds when it was published. */
  readonly ts: number;
  readonly version: string;
  /** The owner's file with the overrides merged in: what the agent runs on. */
  readonly config: unknown;
  /** The overrides alone (what `ctl unset` can remove). */
  readonly overrides: unknown;
  readonly warnings: readonly string[];
  /** The control message that caused this snapshot, if one did. */
  readonly nonce?: string;
}

/** The retained `status` message. */
export type DeviceStatus =
  | {
      readonly state: "online";
      readonly version: string;
      readonly uptime_s: number;
      readonly buffer_depth: number | null;
      /** Whole Unix seconds of this refresh: when the device was last seen. */
      readonly ts: number;
      readonly control?: { readonly applied: number; readonly rejected: Readonly<Record<string, number>> };
    }
  | {
      readonly state: "offline";
      /** `connection lost` (the last will) or `stopped` (a clean shutdown). */
      readonly reason: string;
      /** stopped: when; connection lost: unknown (the will was written at connect time). */
      readonly ts?: number;
      /** The last will carries when the connection it covers was made. */
      readonly connected_at?: number;
    };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
