import { isPermanentRejection, isRejectReason, RejectReason } from "../../protocol/reasons.ts";
import { parseRetryAfter } from "./retry-after.ts";
import type { RejectedSample, SendOutcome } from "./transport.ts";

/** What the https transport got back for one POST /v1/lines (see protocol/ingest-api.ts). */
export interface IngestResponse {
  readonly status: number;
  readonly retryAfter?: string;
  readonly location?: string;
  readonly body: string;
}

/**
 * Decides what one ingest response means for the batch that was sent. Pure: the https transport
 * does the I/O, this does the reading.
 *
 * - 200 acks the batch only if the reply accounts for every line sent: a captive portal or a proxy
 *   answering 200 with its own page must never make the agent drop lines.
 * - A 200 whose reply has transient rejections (rate limited, forwarder full) is a retry of the
 *   whole batch: the reply names at most a few lines, so the agent cannot tell which ones to keep.
 *   The lines that were accepted come back as `duplicate` the second time (the server dedupes, and
 *   whisper stores a point per timestamp anyway).
 * - 413 asks the caller to split the batch; 429/503/408/5xx are retries (honouring Retry-After).
 *   protocol/ingest-api.ts says nothing was taken from a 429/503 body, but resending all of it is
 *   right either way: a server that did take part of it answers `duplicate` for that part.
 *   any other status is fatal: the lines stay buffered until the owner fixes the server or the URL.
 */
export function outcomeForIngestResponse(
  response: IngestResponse,
  linesSent: number,
  nowMs: number,
): SendOutcome {
  const { status } = response;
  const afterMs = parseRetryAfter(response.retryAfter, nowMs);
  const retry = (why: string, throttled = false): SendOutcome => ({
    kind: "retry",
    why,
    ...(afterMs === undefined ? {} : { afterMs }),
    ...(throttled ? { throttled } : {}),
  });
  if (status === 200) return outcomeForReply(response.body, linesSent, afterMs);
  if (status === 413)
    return {
      kind: "too_large",
      why: `the server said the batch of ${linesSent} lines is too large (HTTP 413)`,
    };
  if (status === 429) return retry("the server asked us to slow down (HTTP 429)", true);
  if (status === 503) return retry("the server is busy (HTTP 503)");
  if (status === 408) return retry("the server timed out reading our data (HTTP 408)");
  if (status >= 500 && status <= 599) return retry(`server error (HTTP ${status})`);
  return { kind: "fatal", why: fatalWhy(response) };
}

const THROTTLE_REASONS: ReadonlySet<string> = new Set<string>([
  RejectReason.RateLimitedKey,
  RejectReason.RateLimitedSource,
  RejectReason.SourceBlocked,
]);

function fatalWhy(response: IngestResponse): string {
  const { status } = response;
  const said = excerpt(response.body);
  const suffix = said.length > 0 ? `: ${said}` : "";
  if (status === 400) return `the server could not read our data (HTTP 400)${suffix}`;
  if (status === 401 || status === 403) return `the server refused us (HTTP ${status})${suffix}`;
  if (status === 404) return `nothing at this address (HTTP 404): check the server URL`;
  if (status >= 300 && status <= 399) {
    return `the server redirects (HTTP ${status}${response.location ? ` to ${response.location}` : ""}): set the server URL to the final address`;
  }
  return `unexpected answer from the server (HTTP ${status})${suffix}`;
}

function excerpt(body: string): string {
  return body.replace(/\s+/g, " ").trim().slice(0, 200);
}

function outcomeForReply(body: string, linesSent: number, afterMs: number | undefined): SendOutcome {
  const reply = readReply(body);
  if (reply === undefined) {
    return {
      kind: "retry",
      why: "the server's answer was not understood (is a proxy or captive portal in the way?)",
    };
  }
  const decided = reply.accepted + sum(Object.values(reply.rejected));
  if (decided !== linesSent) {
    return { kind: "retry", why: `the server decided ${decided} lines but we sent ${linesSent}` };
  }
  const permanent: Record<string, number> = {};
  const transient: Record<string, number> = {};
  for (const [reason, count] of Object.entries(reply.rejected)) {
    if (count === 0) continue;
    // A reason this agent does not know comes from a newer server: count it as permanent, so an
    // unknown rejection cannot make the agent resend the same batch forever.
    const target = isRejectReason(reason) && !isPermanentRejection(reason) ? transient : permanent;
    target[reason] = count;
  }
  const transientCount = sum(Object.values(transient));
  if (transientCount > 0) {
    const reasons = Object.entries(transient).map(([reason, count]) => `${reason}: ${count}`);
    const why = `the server took ${reply.accepted} of ${linesSent} lines and asked for ${transientCount} to be sent later (${reasons.join(", ")})`;
    const throttled = Object.keys(transient).some((reason) => THROTTLE_REASONS.has(reason));
    return {
      kind: "retry",
      why,
      ...(afterMs === undefined ? {} : { afterMs }),
      ...(throttled ? { throttled } : {}),
    };
  }
  return { kind: "delivered", accepted: reply.accepted, rejected: permanent, samples: reply.samples };
}

interface Reply {
  readonly accepted: number;
  readonly rejected: Record<string, number>;
  readonly samples: RejectedSample[];
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function readReply(body: string): Reply | undefined {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof data !== "object" || data === null) return undefined;
  const { accepted, rejected, errors } = data as Record<string, unknown>;
  if (!isCount(accepted) || typeof rejected !== "object" || rejected === null || Array.isArray(rejected)) {
    return undefined;
  }
  const counts: Record<string, number> = {};
  for (const [reason, count] of Object.entries(rejected)) {
    if (!isCount(count)) return undefined;
    counts[reason] = count;
  }
  return { accepted, rejected: counts, samples: readSamples(errors) };
}

function readSamples(errors: unknown): RejectedSample[] {
  if (!Array.isArray(errors)) return [];
  const samples: RejectedSample[] = [];
  for (const entry of errors.slice(0, 20) as unknown[]) {
    if (typeof entry !== "object" || entry === null) continue;
    const { line, reason, detail } = entry as Record<string, unknown>;
    if (!isCount(line) || typeof reason !== "string") continue;
    samples.push(typeof detail === "string" ? { line, reason, detail } : { line, reason });
  }
  return samples;
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
