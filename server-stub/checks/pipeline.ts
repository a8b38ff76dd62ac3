import { parseSignedLine } from "../../protocol/line.ts";
import type { SignedLine } from "../../protocol/line.ts";
import { RejectReason } from "../../protocol/reasons.ts";
import type { AuthEntry, AuthTable } from "../auth/auth-file.ts";
import type { Dedupe } from "../limits/dedupe.ts";
import type { BucketMap, BucketPolicy } from "../limits/token-bucket.ts";
import { checkAcl, checkTimeWindow, keyRejection } from "./steps.ts";
import type { TimeWindow } from "./steps.ts";

/**
 * DESIGN.md's check order as ordered lists of small steps. Each step looks at one line and the
 * state it needs and returns a rejection reason, or undefined to pass the line on. The signature
 * step sits between the two lists because it may run on a worker thread.
 */
export interface LineContext {
  /** The line without its newline (a trailing CR is allowed). */
  readonly text: string;
  readonly source: string;
  readonly nowMs: number;
  line?: SignedLine;
  entry?: AuthEntry;
  detail?: string;
}

export interface CheckState {
  readonly auth: () => AuthTable;
  readonly maxLineBytes: number;
  readonly keyBuckets: BucketMap;
  readonly sourceBuckets: BucketMap;
  /** For keys whose entry sets no rate or burst. */
  readonly keyPolicy: (entry: AuthEntry) => BucketPolicy;
  readonly sourcePolicy: BucketPolicy;
  readonly window: TimeWindow;
  readonly dedupe: Dedupe;
}

export type Step = (context: LineContext, state: CheckState) => RejectReason | undefined;

export const checkFraming: Step = (context, state) => {
  const length =
    context.text.charCodeAt(context.text.length - 1) === 0x0d ? context.text.length - 1 : context.text.length;
  if (length <= state.maxLineBytes) return undefined;
  context.detail = `line is longer than ${state.maxLineBytes} bytes`;
  return RejectReason.LineTooLong;
};

export const parseLine: Step = (context, state) => {
  const parsed = parseSignedLine(context.text, { maxLineBytes: state.maxLineBytes });
  if (!parsed.ok) {
    context.detail = parsed.detail;
    return parsed.reason;
  }
  context.line = parsed.line;
  return undefined;
};

/** lookUpKey's decision (keyRejection), without an object per line. */
export const findKey: Step = (context, state) => {
  const entry = state.auth().entries.get((context.line as SignedLine).keyId);
  // A disabled key is still a known key: its rejections are counted under its name.
  if (entry !== undefined) context.entry = entry;
  return keyRejection(entry);
};

export const takeKeyToken: Step = (context, state) => {
  const entry = context.entry as AuthEntry;
  return state.keyBuckets.take(entry.keyId, state.keyPolicy(entry), context.nowMs)
    ? undefined
    : RejectReason.RateLimitedKey;
};

export const takeSourceToken: Step = (context, state) =>
  state.sourceBuckets.take(context.source, state.sourcePolicy, context.nowMs)
    ? undefined
    : RejectReason.RateLimitedSource;

export const checkMetricAcl: Step = (context) =>
  checkAcl(context.line as SignedLine, context.entry as AuthEntry);

export const checkTime: Step = (context, state) =>
  checkTimeWindow(context.line as SignedLine, context.entry as AuthEntry, context.nowMs, state.window);

/** Everything before the signature, cheapest rejection first. */
export const BEFORE_SIGNATURE: readonly Step[] = [
  checkFraming,
  parseLine,
  findKey,
  takeKeyToken,
  takeSourceToken,
  checkMetricAcl,
  checkTime,
];

export const dropDuplicate: Step = (context, state) =>
  state.dedupe.seen((context.line as SignedLine).signature, context.nowMs)
    ? RejectReason.Duplicate
    : undefined;

/** Everything after a good signature, before the line is forwarded. */
export const AFTER_SIGNATURE: readonly Step[] = [dropDuplicate];

export function runSteps(
  steps: readonly Step[],
  context: LineContext,
  state: CheckState,
): RejectReason | undefined {
  for (const step of steps) {
    const reason = step(context, state);
    if (reason !== undefined) return reason;
  }
  return undefined;
}
