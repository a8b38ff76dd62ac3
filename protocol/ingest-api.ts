import type { RejectReason } from "./reasons.ts";

/**
 * The HTTP ingest API, shared by the server's https listener and the agent's https transport.
 *
 *   POST /v1/lines
 *   Content-Type: text/plain; Content-Encoding: gzip (optional)
 *   body: signed lines, one per "\n"
 *
 * Status codes:
 *   200  every line was decided; the body says which were accepted and why others were not
 *   400  the body could not be read (bad gzip)
 *   413  the body (or its gunzipped size) is over the cap
 *   429  the key's budget is spent: retry after Retry-After seconds; nothing in the body was taken
 *   503  the forwarder cannot take more: retry after Retry-After seconds; nothing was taken
 */
export const INGEST_PATH = "/v1/lines";

export interface IngestError {
  /** 1-based line number within the body. */
  readonly line: number;
  readonly reason: RejectReason;
  readonly detail?: string;
}

export interface IngestReply {
  readonly accepted: number;
  /** Count per reason; reasons with no lines are left out. */
  readonly rejected: Partial<Record<RejectReason, number>>;
  /** The first few rejected lines, for the sender's log. */
  readonly errors: readonly IngestError[];
}

/** How many rejected lines a reply lists in `errors`. */
export const INGEST_REPLY_MAX_ERRORS = 10;
