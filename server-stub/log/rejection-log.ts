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
 * Logs rejected lines at a bounded rate (a token bucket), and says how many went unlogged in
 * between. It logs the line as received, truncated: never a secret, and never an expected
 * signature, which the server does not compute for HMAC nor have for Ed25519.
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
    if (!takeTokens(this.bucket, this.policy, nowMs)) {
      this.suppressed++;
      this.onSuppressed();
      return;
    }
    const line =
      rejection.line.length > LOGGED_LINE_CHARS
        ? `${rejection.line.slice(0, LOGGED_LINE_CHARS)}…`
        : rejection.line;
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
