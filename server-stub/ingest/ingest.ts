import { carbonLineOf } from "../../protocol/line.ts";
import type { SignedLine } from "../../protocol/line.ts";
import { RejectReason } from "../../protocol/reasons.ts";
import type { AuthEntry } from "../auth/auth-file.ts";
import { AFTER_SIGNATURE, BEFORE_SIGNATURE, runSteps } from "../checks/pipeline.ts";
import type { CheckState, LineContext } from "../checks/pipeline.ts";
import type { FailureBudget } from "../limits/failure-budget.ts";
import type { RejectionLog } from "../log/rejection-log.ts";
import { NO_KEY } from "../metrics/server-stats.ts";
import type { ServerStats } from "../metrics/server-stats.ts";
import { DEFERRED } from "../verify/signature-check.ts";
import type { SignatureChecker, SignatureVerdict } from "../verify/signature-check.ts";

/** Where accepted Carbon lines go: the forwarder. */
export interface LineSink {
  /** False when neither memory nor the spool can take more. */
  accepting(): boolean;
  /** Resolves once the lines are written to Carbon or to the spool (never rejects). */
  send(lines: string[]): Promise<void>;
}

export interface LineError {
  /** 1-based, within the submitted batch. */
  readonly line: number;
  readonly reason: RejectReason;
  readonly detail?: string;
}

export interface IngestResult {
  accepted: number;
  readonly rejected: Map<RejectReason, number>;
  readonly errors: LineError[];
  /** The source used up its failure budget (now or before): a stream connection should close. */
  sourceBlocked: boolean;
  /** When a line was refused for a transient reason: how long until trying again makes sense. */
  retryAfterMs: number;
  /** Settles when the accepted lines are written to Carbon or spooled. */
  forwarded: Promise<void>;
}

/**
 * Failures that count against a source's budget: lines that are malformed, for someone else, or
 * forged. Rate limits, duplicates and stale timestamps do not: a real device produces those while
 * catching up after an outage.
 */
const COUNTS_AS_FAILURE: ReadonlySet<RejectReason> = new Set<RejectReason>([
  RejectReason.LineTooLong,
  RejectReason.FieldCount,
  RejectReason.EmptyField,
  RejectReason.BadSeparator,
  RejectReason.ControlByte,
  RejectReason.BadMetric,
  RejectReason.BadValue,
  RejectReason.BadTimestamp,
  RejectReason.BadKeyId,
  RejectReason.BadSignatureEncoding,
  RejectReason.BadSignatureLength,
  RejectReason.UnknownKey,
  RejectReason.KeyDisabled,
  RejectReason.AclDenied,
  RejectReason.BadSignature,
]);

export function countsAsFailure(reason: RejectReason): boolean {
  return COUNTS_AS_FAILURE.has(reason);
}

export interface IngestDeps {
  readonly state: CheckState;
  readonly signatures: SignatureChecker;
  readonly sink: LineSink;
  readonly failures: FailureBudget;
  readonly stats: ServerStats;
  readonly rejections: RejectionLog;
  readonly clock: () => number;
  /** Called once when a source uses up its failure budget. */
  readonly onSourceBlocked?: (source: string) => void;
  /** How many per-line errors a result lists (default 10). */
  readonly maxErrors?: number;
  /** Sees every line once decided (reason undefined: accepted), e.g. the status page. Must be O(1). */
  readonly onDecided?: (context: LineContext, reason: RejectReason | undefined) => void;
}

/** Runs batches of lines from one source through the checks, and forwards the accepted ones. */
export class Ingest {
  private readonly maxErrors: number;

  constructor(private readonly deps: IngestDeps) {
    this.maxErrors = deps.maxErrors ?? 10;
  }

  /** Returns at once when no line needed a worker thread, else a promise. */
  submit(texts: readonly string[], source: string): IngestResult | Promise<IngestResult> {
    const { deps } = this;
    const nowMs = deps.clock();
    const result: IngestResult = {
      accepted: 0,
      rejected: new Map(),
      errors: [],
      sourceBlocked: deps.failures.isBlocked(source, nowMs),
      retryAfterMs: 0,
      forwarded: Promise.resolve(),
    };
    const out: string[] = [];
    // Nothing reaches the sink before the loop ends, so its answer holds for every line decided in it.
    const accepting = deps.sink.accepting();
    let outstanding = 0;
    let settle: (() => void) | undefined;
    for (let index = 0; index < texts.length; index++) {
      const context: LineContext = { text: texts[index] as string, source, nowMs };
      if (result.sourceBlocked) {
        this.reject(result, context, index, RejectReason.SourceBlocked);
        continue;
      }
      const reason = runSteps(BEFORE_SIGNATURE, context, deps.state);
      if (reason !== undefined) {
        this.reject(result, context, index, reason);
        continue;
      }
      const line = context.line as SignedLine;
      const entry = context.entry as AuthEntry;
      if (!deps.signatures.isDeferred(entry)) {
        // No callback to allocate: HMAC (and Ed25519 without workers) is decided here and now.
        this.finish(result, context, index, deps.signatures.checkNow(line, entry), out, accepting);
        continue;
      }
      const lineIndex = index;
      const verdict = deps.signatures.check(line, entry, (later) => {
        this.finish(result, context, lineIndex, later, out, deps.sink.accepting());
        if (--outstanding === 0 && settle) settle();
      });
      if (verdict === DEFERRED) outstanding++;
      else this.finish(result, context, index, verdict, out, accepting);
    }
    if (outstanding === 0) return this.send(result, out);
    return new Promise<void>((resolve) => {
      // Verdicts never arrive synchronously, so none can have been missed.
      settle = resolve;
    }).then(() => this.send(result, out));
  }

  private send(result: IngestResult, out: string[]): IngestResult {
    if (out.length > 0) result.forwarded = this.deps.sink.send(out);
    return result;
  }

  private finish(
    result: IngestResult,
    context: LineContext,
    index: number,
    verdict: SignatureVerdict,
    out: string[],
    accepting: boolean,
  ): void {
    const line = context.line as SignedLine;
    const reason = verdict ?? runSteps(AFTER_SIGNATURE, context, this.deps.state);
    if (reason !== undefined) {
      this.reject(result, context, index, reason);
      return;
    }
    if (!accepting) {
      this.deps.state.dedupe.forget(line.signature);
      this.reject(result, context, index, RejectReason.ForwardOverflow);
      return;
    }
    out.push(carbonLineOf(line));
    result.accepted++;
    this.deps.stats.accepted(line.keyId);
    this.deps.onDecided?.(context, undefined);
  }

  private reject(result: IngestResult, context: LineContext, index: number, reason: RejectReason): void {
    const { deps } = this;
    const keyLabel = context.entry?.keyId ?? NO_KEY;
    deps.stats.rejected(keyLabel, reason);
    deps.onDecided?.(context, reason);
    result.rejected.set(reason, (result.rejected.get(reason) ?? 0) + 1);
    if (result.errors.length < this.maxErrors) {
      result.errors.push({
        line: index + 1,
        reason,
        ...(context.detail !== undefined && { detail: context.detail }),
      });
    }
    if (reason === RejectReason.SourceBlocked) {
      result.retryAfterMs = Math.max(
        result.retryAfterMs,
        deps.failures.blockedForMs(context.source, context.nowMs),
      );
      return;
    }
    if (deps.rejections.admit(context.nowMs)) {
      deps.rejections.write({
        reason,
        source: context.source,
        line: context.text,
        ...(context.line && { keyId: context.line.keyId }),
        ...(context.detail !== undefined && { detail: context.detail }),
      });
    }
    if (reason === RejectReason.RateLimitedKey || reason === RejectReason.RateLimitedSource) {
      result.retryAfterMs = Math.max(result.retryAfterMs, this.retryAfter(context, reason));
    } else if (reason === RejectReason.ForwardOverflow) {
      result.retryAfterMs = Math.max(result.retryAfterMs, 1000);
    } else if (COUNTS_AS_FAILURE.has(reason) && deps.failures.recordFailure(context.source, context.nowMs)) {
      result.sourceBlocked = true;
      deps.stats.sourcesBlocked++;
      deps.onSourceBlocked?.(context.source);
    }
  }

  private retryAfter(context: LineContext, reason: RejectReason): number {
    const { state } = this.deps;
    if (reason === RejectReason.RateLimitedKey) {
      const entry = context.entry as AuthEntry;
      return state.keyBuckets.msUntil(entry.keyId, state.keyPolicy(entry), context.nowMs);
    }
    return state.sourceBuckets.msUntil(context.source, state.sourcePolicy, context.nowMs);
  }
}
