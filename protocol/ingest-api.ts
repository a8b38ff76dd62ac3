import type { RejectReason } from "./reasons.ts";

/**
 * The HTTP ingest API, shared by the server's https listener and the agent's https transport.
 *
 *   POST /v1/lines
 *   Content-Type: text/plain; Content-Encoding: gzip (optional)
 *   body: signed lines, one per "\n"
 *
 * Status codes (every reply to a readable body carries an IngestReply):
 *   200  every line was decided; the body says which were accepted and why others were not
 *   400  the body could not be read (bad gzip)
 *   413  the body (or its gunzipped size) is over the cap; nothing was taken
 *   429  the key's or the source's budget ran out part-way (or the source is blocked): retry after
 *        Retry-After seconds
 *   503  the forwarder could not take more: retry after Retry-After seconds
 *
 * On 429 and 503 the lines counted in `accepted` were taken (and are durable); the rest were not.
 * A sender that resends the whole batch gets the taken lines back as `duplicate`, which it should
 * treat as delivered. Since a resent duplicate spends rate again before dedupe catches it, a
 * throttled sender should send smaller batches until it gets a 200 (the agent halves them).
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
