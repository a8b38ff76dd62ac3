import type { SignedLine } from "../../protocol/line.ts";
import { RejectReason } from "../../protocol/reasons.ts";
import type { AuthEntry, AuthTable } from "../auth/auth-file.ts";

/**
 * The pure steps of DESIGN.md's check order. Each takes the line and what it needs, and returns a
 * rejection reason or undefined (pass). Stateful steps (rate limits, dedupe) live in their own modules.
 */

export const DEFAULT_SKEW_MS = 5 * 60_000;
export const DEFAULT_MAX_AGE_MS = 7 * 86_400_000;

export interface TimeWindow {
  /** How far ahead of the server's clock a timestamp may be. */
  readonly skewMs: number;
  /** How old a timestamp may be, unless the key's entry says otherwise. */
  readonly maxAgeMs: number;
}

export type KeyLookup = { readonly entry: AuthEntry } | { readonly reason: RejectReason };

/** Why a key's entry (undefined: none in the table) cannot sign lines, or undefined when it can. */
export function keyRejection(entry: AuthEntry | undefined): RejectReason | undefined {
  if (!entry) return RejectReason.UnknownKey;
  return entry.disabled ? RejectReason.KeyDisabled : undefined;
}

export function lookUpKey(line: SignedLine, table: AuthTable): KeyLookup {
  const entry = table.entries.get(line.keyId);
  const reason = keyRejection(entry);
  return reason === undefined ? { entry: entry as AuthEntry } : { reason };
}

export function checkAcl(line: SignedLine, entry: AuthEntry): RejectReason | undefined {
  return entry.acl.allows(line.metric) ? undefined : RejectReason.AclDenied;
}

export function checkTimeWindow(
  line: SignedLine,
  entry: AuthEntry,
  nowMs: number,
  window: TimeWindow,
): RejectReason | undefined {
  const timestampMs = line.timestamp * 1000;
  if (timestampMs > nowMs + window.skewMs) return RejectReason.TimestampInFuture;
  if (timestampMs < nowMs - (entry.maxAgeMs ?? window.maxAgeMs)) return RejectReason.TimestampTooOld;
  return undefined;
}
