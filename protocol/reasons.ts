/**
 * Every reason a line can be refused, as one set of stable codes. The same string appears in
 * logs, Prometheus labels, HTTP replies and the agent's dropped-line counters.
 */
export const RejectReason = {
  /** The line is longer than the cap (default 1 KiB). On a stream this also closes the connection. */
  LineTooLong: "line_too_long",
  /** Not exactly five (signed) or three (plain Carbon) fields. */
  FieldCount: "field_count",
  /** Two separators in a row, or a leading/trailing separator. */
  EmptyField: "empty_field",
  /** A tab or other whitespace used where a single space is required. */
  BadSeparator: "bad_separator",
  /** A control byte (other than a trailing CR) inside a field. */
  ControlByte: "control_byte",
  BadMetric: "bad_metric",
  BadValue: "bad_value",
  BadTimestamp: "bad_timestamp",
  BadKeyId: "bad_key_id",
  /** The signature field is not padded base64. */
  BadSignatureEncoding: "bad_signature_encoding",
  /** The signature decodes to the wrong number of bytes for the key's algorithm. */
  BadSignatureLength: "bad_signature_length",
  UnknownKey: "unknown_key",
  KeyDisabled: "key_disabled",
  RateLimitedKey: "rate_limited_key",
  RateLimitedSource: "rate_limited_source",
  SourceBlocked: "source_blocked",
  AclDenied: "acl_denied",
  TimestampInFuture: "timestamp_in_future",
  TimestampTooOld: "timestamp_too_old",
  BadSignature: "bad_signature",
  Duplicate: "duplicate",
  /** The forwarder's memory queue and disk spool are both full. */
  ForwardOverflow: "forward_overflow",
} as const;

export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

export const ALL_REJECT_REASONS: readonly RejectReason[] = Object.values(RejectReason);

/** Reasons the sender cannot fix by retrying the same bytes later. */
const TRANSIENT_REASONS: ReadonlySet<RejectReason> = new Set<RejectReason>([
  RejectReason.RateLimitedKey,
  RejectReason.RateLimitedSource,
  RejectReason.SourceBlocked,
  RejectReason.ForwardOverflow,
]);

export function isPermanentRejection(reason: RejectReason): boolean {
  return !TRANSIENT_REASONS.has(reason);
}

export function isRejectReason(value: unknown): value is RejectReason {
  return typeof value === "string" && (ALL_REJECT_REASONS as readonly string[]).includes(value);
}
