import { verify } from "node:crypto";
import { performance } from "node:perf_hooks";
import { ed25519PublicKeyObject, SIGNATURE_BYTES } from "../../protocol/keys.ts";
import type { MessageVerifier } from "../../protocol/keys.ts";
import { signedMessage } from "../../protocol/line.ts";
import type { SignedLine } from "../../protocol/line.ts";
import { RejectReason } from "../../protocol/reasons.ts";
import { checkSignature } from "../../protocol/verify-line.ts";
import type { AuthEntry } from "../auth/auth-file.ts";
import { isHmacVerifier } from "./hmac-verifier.ts";
import { VerifyWorkerPool } from "./worker-pool.ts";
import type { VerifyJob } from "./worker-pool.ts";

export type SignatureVerdict = RejectReason | undefined;

/** Signatures checked on this thread per one that is timed. */
const TIMING_SAMPLE = 16;

/** `check`'s answer when the verdict comes later, through the callback. */
export const DEFERRED = Symbol("deferred");

export interface VerifyStats {
  /** Signatures checked, by algorithm. */
  readonly count: { ed25519: number; hmac: number };
  /**
   * Seconds spent checking them, by algorithm: CPU on the workers; on this thread, the wall time of
   * one check in 16, times 16.
   */
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
    if (!this.isDeferred(entry)) return this.checkNow(line, entry);
    const encoding = checkEncoding(line.signature);
    if (encoding !== undefined) return encoding;
    (this.pool as VerifyWorkerPool).verify(
      { publicKeys: this.keysOf(entry), signature: line.signature, message: signedMessage(line) },
      (good) => done(good ? undefined : RejectReason.BadSignature),
    );
    return DEFERRED;
  }

  /**
   * The verdict for an entry that is not deferred (see isDeferred), on this thread. One check in
   * TIMING_SAMPLE is timed and counted for all of them: reading the clock twice per line costs
   * about 0.15 µs, a thirtieth of an HMAC line's whole budget.
   */
  checkNow(line: SignedLine, entry: AuthEntry): SignatureVerdict {
    const algorithm = entry.algorithm;
    const timed = this.counts[algorithm]++ % TIMING_SAMPLE === 0;
    const started = timed ? performance.now() : 0;
    const verdict =
      algorithm === "hmac"
        ? checkHmac(line, entry.verifiers)
        : checkSignature(line, algorithm, entry.verifiers);
    if (timed) this.seconds[algorithm] += ((performance.now() - started) * TIMING_SAMPLE) / 1000;
    return verdict;
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

/**
 * HMAC with the signature as received: a match is accepted at once; anything else goes through
 * checkSignature, which says whether the signature is of the wrong size, not canonical base64 or
 * wrong (the verdict is the same either way, the fast path only skips decoding good signatures).
 */
function checkHmac(line: SignedLine, verifiers: readonly MessageVerifier[]): SignatureVerdict {
  const message = signedMessage(line);
  for (const verifier of verifiers) {
    if (isHmacVerifier(verifier) && verifier.matches(message, line.signature)) return undefined;
  }
  return checkSignature(line, "hmac", verifiers);
}

const BASE64_VALUE = new Int8Array(128).fill(-1);
for (const [value, char] of [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"].entries())
  BASE64_VALUE[char.charCodeAt(0)] = value;
const EQUALS = 0x3d;
const ED25519_SIGNATURE_CHARS = 88;

/**
 * Whether `signature` is the canonical padded base64 of 64 bytes: 86 characters of the alphabet,
 * the last with its 4 unused low bits zero, then "==". Checked on the characters, because
 * decoding into a Buffer per line costs the main thread more than the rest of its share.
 */
function isCanonicalEd25519Signature(signature: string): boolean {
  const dataChars = ED25519_SIGNATURE_CHARS - 2;
  if (signature.length !== ED25519_SIGNATURE_CHARS) return false;
  if (signature.charCodeAt(dataChars) !== EQUALS || signature.charCodeAt(dataChars + 1) !== EQUALS) {
    return false;
  }
  for (let index = 0; index < dataChars; index++) {
    const code = signature.charCodeAt(index);
    if (code >= 128 || (BASE64_VALUE[code] as number) < 0) return false;
  }
  return ((BASE64_VALUE[signature.charCodeAt(dataChars - 1)] as number) & 0x0f) === 0;
}

/** The same encoding checks as protocol's checkSignature, done before a line is sent to a worker. */
function checkEncoding(signature: string): SignatureVerdict {
  if (isCanonicalEd25519Signature(signature)) return undefined;
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
