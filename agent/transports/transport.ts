/**
 * How signed lines leave the device. One file per transport (https, tcp, tls), one switch to pick
 * it (`createTransport` in index.ts, by the server URL's scheme). A transport sends one batch and
 * says what happened to it; the shipper decides what that means for the disk buffer.
 */

/** Lines per rejection reason. Reasons are RejectReason codes, kept as strings so a newer server's
 * reasons are still counted under their own name. */
export type RejectedCounts = Readonly<Record<string, number>>;

export type SendOutcome =
  /**
   * Every line was decided: the batch can be acked. `rejected` holds only permanent rejections
   * (resending the same bytes cannot help), which the caller drops and counts.
   */
  | {
      readonly kind: "delivered";
      readonly accepted: number;
      readonly rejected: RejectedCounts;
      /** A few rejected lines with their reasons, for the log. */
      readonly samples?: readonly RejectedSample[];
    }
  /** Nothing is known to have been taken (or not all of it): send the same batch again later. */
  | {
      readonly kind: "retry";
      /** The earliest the server wants to hear from us again (Retry-After), if it said. */
      readonly afterMs?: number;
      /**
       * The server said this key or address is over its rate (429, or lines refused as rate
       * limited). A server may have taken part of the batch, which then comes back as duplicates
       * and spends rate again: the caller sends smaller batches for a while so it always progresses.
       */
      readonly throttled?: boolean;
      readonly why: string;
    }
  /** The server refused the body for its size (HTTP 413): send fewer lines per batch. */
  | { readonly kind: "too_large"; readonly why: string }
  /**
   * The server refuses the request in a way retrying soon cannot fix (a wrong URL, credentials, a
   * broken proxy). The lines stay buffered; the owner has to fix something.
   */
  | { readonly kind: "fatal"; readonly why: string };

export interface RejectedSample {
  /** 1-based line number within the batch. */
  readonly line: number;
  readonly reason: string;
  readonly detail?: string;
}

export interface Transport {
  /** Where lines go, for logs and `homeward status`: e.g. "https://metrics.example.org/v1/lines". */
  readonly target: string;
  /** The host name alone, for plain-words messages ("could not reach metrics.example.org"). */
  readonly host: string;
  /**
   * Sends one batch of signed lines (without newlines), oldest first. Never throws for network or
   * server trouble: that is a "retry" or "fatal" outcome.
   */
  send(lines: readonly string[]): Promise<SendOutcome>;
  /** Closes connections; a send after close reconnects. */
  close(): Promise<void>;
}

/** A mistake in the transport's settings (URL, CA file, pin), found when the transport is made. */
export class TransportOptionsError extends Error {
  override readonly name = "TransportOptionsError";
}
