import {
  ALL_CONTROL_REJECT_REASONS,
  CONTROL_MESSAGE_VERSION,
  ControlRejectReason,
  openControlMessage,
} from "../../protocol/control-message.ts";
import type {
  ConfigSnapshot,
  ControlMessage,
  ControlReply,
  ControlRejectReason as Reason,
} from "../../protocol/control-message.ts";
import { ed25519Verifier } from "../../protocol/keys.ts";
import type { MessageVerifier } from "../../protocol/keys.ts";
import type { Logger } from "../collectors/collector.ts";
import { deleteOverrides, updateOverrides } from "../config/load.ts";
import type { LoadedAgentConfig, OverrideResult } from "../config/load.ts";
import { deepMerge, isJsonObject } from "../config/overrides.ts";
import type { JsonObject } from "../config/overrides.ts";
import type { NonceMemory } from "./nonce-memory.ts";
import { redactSecrets } from "./redact.ts";

export interface ControlProcessorOptions {
  readonly loaded: LoadedAgentConfig;
  readonly device: string;
  /** base64 Ed25519 public keys of the owner. */
  readonly ownerPublicKeys: readonly string[];
  readonly maxSkewMs: number;
  readonly nonces: NonceMemory;
  /**
   * Applies a new config live (the agent's `applyConfig`). Awaited before the new snapshot is
   * published; if it throws, the change stays saved and the reply says so (`apply_error`).
   */
  readonly onConfigChanged: (loaded: LoadedAgentConfig) => void | Promise<void>;
  readonly version: string;
  /** Wall-clock ms. */
  readonly now: () => number;
  readonly log: Logger;
  /** A rejection reason is logged at most once per this long (default 10 s); the rest are counted. */
  readonly logEveryMs?: number;
}

export interface ControlStats {
  /** Messages received on the control topic. */
  readonly received: number;
  /** Messages taken: updates and deletes applied, reads answered. */
  readonly applied: number;
  readonly rejected: Readonly<Record<Reason, number>>;
}

export type ControlOutcome =
  | {
      readonly kind: "rejected";
      readonly reason: Reason;
      readonly detail: string;
      /** Only for messages the owner signed (a bad body): the answer, for `reply_to`. */
      readonly reply?: ControlReply;
      readonly message?: ControlMessage;
    }
  | {
      readonly kind: "accepted";
      readonly message: ControlMessage;
      /** The overrides changed: the retained snapshot must be republished. */
      readonly changed: boolean;
      readonly reply: ControlReply;
      readonly snapshot: ConfigSnapshot;
    };

/**
 * Turns one control message into a decision and applies it, with no MQTT in sight (the channel
 * publishes what comes back). Checks in order: size, envelope, signature, payload, device, time
 * (protocol/control-message.ts), then replay, then the body against the config schema. Nothing is
 * applied unless every check passes.
 */
export class ControlProcessor {
  readonly #options: ControlProcessorOptions;
  readonly #verifiers: readonly MessageVerifier[];
  readonly #rejected = Object.fromEntries(ALL_CONTROL_REJECT_REASONS.map((reason) => [reason, 0])) as Record<
    Reason,
    number
  >;
  readonly #lastLogged = new Map<Reason, { at: number; suppressed: number }>();
  #loaded: LoadedAgentConfig;
  #received = 0;
  #applied = 0;

  constructor(options: ControlProcessorOptions) {
    this.#options = options;
    this.#loaded = options.loaded;
    this.#verifiers = options.ownerPublicKeys.map((key) => ed25519Verifier(Buffer.from(key, "base64")));
  }

  get loaded(): LoadedAgentConfig {
    return this.#loaded;
  }

  /** The config changed by other means (SIGHUP re-read the file): snapshots describe it from now on. */
  adopt(loaded: LoadedAgentConfig): void {
    this.#loaded = loaded;
  }

  stats(): ControlStats {
    return { received: this.#received, applied: this.#applied, rejected: { ...this.#rejected } };
  }

  snapshot(nonce?: string): ConfigSnapshot {
    const { file, overrides, warnings } = this.#loaded;
    const merged = deepMerge(file as unknown as JsonObject, overrides);
    return {
      v: CONTROL_MESSAGE_VERSION,
      device: this.#options.device,
      ts: Math.floor(this.#options.now() / 1000),
      version: this.#options.version,
      config: redactSecrets(merged),
      overrides: redactSecrets(overrides),
      warnings,
      ...(nonce !== undefined && { nonce }),
    };
  }

  async handle(bytes: Uint8Array): Promise<ControlOutcome> {
    this.#received++;
    const nowMs = this.#options.now();
    const opened = openControlMessage(bytes, {
      verifiers: this.#verifiers,
      device: this.#options.device,
      nowMs,
      maxSkewMs: this.#options.maxSkewMs,
    });
    if (!opened.ok) return this.#reject(opened.reason, opened.detail);
    const { message } = opened;
    if (!this.#options.nonces.take(message.nonce, message.ts, nowMs)) {
      return this.#reject(ControlRejectReason.Replayed, `nonce ${message.nonce} was already used`, message);
    }

    let result: OverrideResult | undefined;
    if (message.op === "update") {
      if (!isJsonObject(message.body) || Object.keys(message.body).length === 0) {
        return this.#badBody(message, ['update takes an object of keys: {"collect.net.ping": ["1.1.1.1"]}']);
      }
      result = await updateOverrides(this.#loaded, message.body);
    } else if (message.op === "delete") {
      const keys = message.body;
      if (keys !== undefined && keys !== null && !isKeyList(keys)) {
        return this.#badBody(message, ["delete takes a list of keys, or nothing to remove every override"]);
      }
      result = await deleteOverrides(this.#loaded, keys ?? undefined);
    }
    if (result !== undefined && !result.ok) return this.#badBody(message, result.problems);

    let applyError: string | undefined;
    if (result?.ok) {
      this.#loaded = result.loaded;
      try {
        await this.#options.onConfigChanged(result.loaded);
      } catch (error) {
        applyError = error instanceof Error ? error.message : String(error);
        this.#options.log.error(
          { nonce: message.nonce, error: applyError },
          "control: the change is saved but applying it live failed; it takes effect at the next start",
        );
      }
    }
    this.#applied++;
    const snapshot = this.snapshot(message.nonce);
    this.#options.log.info(
      {
        op: message.op,
        nonce: message.nonce,
        ...(isJsonObject(message.body) && { keys: Object.keys(message.body) }),
        ...(Array.isArray(message.body) && { keys: message.body }),
      },
      message.op === "read" ? "control: config read" : "control: config changed",
    );
    return {
      kind: "accepted",
      message,
      changed: result !== undefined,
      snapshot,
      reply: {
        v: CONTROL_MESSAGE_VERSION,
        device: this.#options.device,
        nonce: message.nonce,
        op: message.op,
        ok: true,
        ...(result?.ok && result.missing.length > 0 && { missing: result.missing }),
        ...(applyError !== undefined && { apply_error: applyError }),
        snapshot,
      },
    };
  }

  #badBody(message: ControlMessage, problems: readonly string[]): ControlOutcome {
    const outcome = this.#reject(ControlRejectReason.BadBody, problems.join("; "), message);
    return {
      ...outcome,
      reply: {
        v: CONTROL_MESSAGE_VERSION,
        device: this.#options.device,
        nonce: message.nonce,
        op: message.op,
        ok: false,
        reason: ControlRejectReason.BadBody,
        problems,
        snapshot: this.snapshot(),
      },
    };
  }

  #reject(reason: Reason, detail: string, message?: ControlMessage): ControlOutcome & { kind: "rejected" } {
    this.#rejected[reason]++;
    const now = this.#options.now();
    const every = this.#options.logEveryMs ?? 10_000;
    const last = this.#lastLogged.get(reason);
    if (last === undefined || now - last.at >= every) {
      this.#options.log.warn(
        {
          reason,
          detail,
          ...(message && { op: message.op, nonce: message.nonce }),
          ...(last !== undefined && last.suppressed > 0 && { suppressed: last.suppressed }),
        },
        "control: message refused; nothing applied",
      );
      this.#lastLogged.set(reason, { at: now, suppressed: 0 });
    } else {
      last.suppressed++;
    }
    return { kind: "rejected", reason, detail, ...(message && { message }) };
  }
}

function isKeyList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((key) => typeof key === "string" && key.length > 0);
}
