import type { Logger } from "pino";
import type { RejectReason } from "../../protocol/reasons.ts";
import { takeTokens } from "../limits/token-bucket.ts";
import type { BucketPolicy, TokenBucket } from "../limits/token-bucket.ts";

export const LOGGED_LINE_CHARS = 120;

export interface Rejection {
  readonly reason: RejectReason;
  readonly source: string;
  readonly keyId?: string;
  readonly line: string;
  readonly detail?: string;
}

/**
 * Anything shaped like a signature (base64 of 32 or 64 bytes, the only sizes the server takes,
 * wherever it is in the line) is kept to its first 8 characters: enough to tell lines apart, not
 * enough to replay one from the log (a duplicate, rate-limited or badly separated line can carry a
 * genuine signature).
 */
const SIGNATURE_LIKE =
  /(?<![A-Za-z0-9+/=])([A-Za-z0-9+/]{8})(?:[A-Za-z0-9+/]{35}=|[A-Za-z0-9+/]{78}==)(?![A-Za-z0-9+/=])/g;

/**
 * Logs rejected lines at a bounded rate (a token bucket), and says how many went unlogged in
 * between. It logs the line as received, its signature cut short, truncated: never a secret, and
 * never an expected signature, which the server does not compute for HMAC nor have for Ed25519.
 */
export class RejectionLog {
  private readonly bucket: TokenBucket;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly policy: BucketPolicy = { rate: 5, burst: 20 },
    private readonly onSuppressed: () => void = () => undefined,
  ) {
    this.bucket = { tokens: policy.burst, updatedMs: 0 };
  }

  log(rejection: Rejection, nowMs: number): void {
    if (this.admit(nowMs)) this.write(rejection);
  }

  /**
   * Whether a rejection at `nowMs` may be logged (then write it); if not, it is counted as
   * unlogged. Lets a caller skip building the record for the many that are not logged.
   */
  admit(nowMs: number): boolean {
    if (takeTokens(this.bucket, this.policy, nowMs)) return true;
    this.suppressed++;
    this.onSuppressed();
    return false;
  }

  /** Logs a rejection that `admit` let through. */
  write(rejection: Rejection): void {
    const redacted = rejection.line.replace(SIGNATURE_LIKE, "$1…");
    const line = redacted.length > LOGGED_LINE_CHARS ? `${redacted.slice(0, LOGGED_LINE_CHARS)}…` : redacted;
    this.logger.info(
      {
        reason: rejection.reason,
        source: rejection.source,
        key: rejection.keyId,
        line,
        detail: rejection.detail,
        ...(this.suppressed > 0 && { unlogged_since: this.suppressed }),
      },
      "line rejected",
    );
    this.suppressed = 0;
  }
}
