import { verify } from "node:crypto";
import { performance } from "node:perf_hooks";
import { ed25519PublicKeyObject, SIGNATURE_BYTES } from "../../protocol/keys.ts";
import { canonicalMessage } from "../../protocol/line.ts";
import type { SignedLine } from "../../protocol/line.ts";
import { RejectReason } from "../../protocol/reasons.ts";
import { checkSignature } from "../../protocol/verify-line.ts";
import type { AuthEntry } from "../auth/auth-file.ts";
import { VerifyWorkerPool } from "./worker-pool.ts";
import type { VerifyJob } from "./worker-pool.ts";

export type SignatureVerdict = RejectReason | undefined;

/** `check`'s answer when the verdict comes later, through the callback. */
export const DEFERRED = Symbol("deferred");

export interface VerifyStats {
  /** Signatures checked, by algorithm. */
  readonly count: { ed25519: number; hmac: number };
  /** CPU (workers) or wall (this thread) seconds spent checking them, by algorithm. */
  readonly seconds: { ed25519: number; hmac: number };
}

/**
 * The signature step. HMAC is checked on this thread (it costs about a microsecond); Ed25519 goes
 * to the worker pool when there is one, and the verdict then comes back as a promise.
 */
export class SignatureChecker {
  private readonly pool: VerifyWorkerPool | undefined;
  private readonly counts = { ed25519: 0, hmac: 0 };
  private readonly seconds = { ed25519: 0, hmac: 0 };
  /** Each entry's keys as the worker takes them, joined once per auth-file load. */
  private readonly joinedKeys = new WeakMap<AuthEntry, string>();

  constructor(options: { workers: number; onWorkerError?: (error: Error) => void }) {
    this.pool =
      options.workers > 0
        ? new VerifyWorkerPool({
            workers: options.workers,
            fallback: verifyOnThisThread,
            ...(options.onWorkerError && { onWorkerError: options.onWorkerError }),
          })
        : undefined;
  }

  get workers(): number {
    return this.pool?.size ?? 0;
  }

  /** Whether `check` for this entry answers later, through its callback. */
  isDeferred(entry: AuthEntry): boolean {
    return entry.algorithm === "ed25519" && this.pool !== undefined;
  }

  /**
   * Returns the verdict, or, for a deferred entry, DEFERRED and calls `done` with it later. A
   * callback rather than a promise per line: at tens of thousands of lines a second it shows.
   */
  check(
    line: SignedLine,
    entry: AuthEntry,
    done: (verdict: SignatureVerdict) => void,
  ): SignatureVerdict | typeof DEFERRED {
    if (!this.isDeferred(entry)) {
      const started = performance.now();
      const verdict = checkSignature(line, entry.algorithm, entry.verifiers);
      this.seconds[entry.algorithm] += (performance.now() - started) / 1000;
      this.counts[entry.algorithm]++;
      return verdict;
    }
    const encoding = checkEncoding(line.signature);
    if (encoding !== undefined) return encoding;
    (this.pool as VerifyWorkerPool).verify(
      { publicKeys: this.keysOf(entry), signature: line.signature, message: canonicalMessage(line) },
      (good) => done(good ? undefined : RejectReason.BadSignature),
    );
    return DEFERRED;
  }

  private keysOf(entry: AuthEntry): string {
    let joined = this.joinedKeys.get(entry);
    if (joined === undefined) {
      joined = entry.publicKeys.join(",");
      this.joinedKeys.set(entry, joined);
    }
    return joined;
  }

  stats(): VerifyStats {
    const pool = this.pool?.stats();
    return {
      count: { ed25519: this.counts.ed25519 + (pool?.verified ?? 0), hmac: this.counts.hmac },
      seconds: { ed25519: this.seconds.ed25519 + (pool?.cpuMicros ?? 0) / 1e6, hmac: this.seconds.hmac },
    };
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}

/** The same encoding checks as protocol's checkSignature, done before a line is sent to a worker. */
function checkEncoding(signature: string): SignatureVerdict {
  const decoded = Buffer.from(signature, "base64");
  if (decoded.length !== SIGNATURE_BYTES.ed25519) return RejectReason.BadSignatureLength;
  if (decoded.toString("base64") !== signature) return RejectReason.BadSignatureEncoding;
  return undefined;
}

function verifyOnThisThread(job: VerifyJob): boolean {
  const signature = Buffer.from(job.signature, "base64");
  const message = Buffer.from(job.message, "utf8");
  return job.publicKeys
    .split(",")
    .some((key) => verify(null, message, ed25519PublicKeyObject(Buffer.from(key, "base64")), signature));
}
