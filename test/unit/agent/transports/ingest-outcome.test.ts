import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { outcomeForIngestResponse } from "../../../../agent/transports/ingest-outcome.ts";
import { parseRetryAfter } from "../../../../agent/transports/retry-after.ts";

const NOW = Date.parse("2025-11-23T12:00:00Z");

describe("Retry-After", () => {
  test("delay-seconds and HTTP dates; a date in the past is 0; junk is ignored", () => {
    assert.equal(parseRetryAfter("120", NOW), 120_000);
    assert.equal(parseRetryAfter(" 0 ", NOW), 0);
    assert.equal(parseRetryAfter("Sun, 23 Nov 2025 12:01:30 GMT", NOW), 90_000);
    assert.equal(parseRetryAfter("Sun, 23 Nov 2025 11:00:00 GMT", NOW), 0);
    assert.equal(parseRetryAfter(undefined, NOW), undefined);
    for (const junk of ["", "soon", "1.5", "-3", "2026-01-01"])
      assert.equal(parseRetryAfter(junk, NOW), undefined, junk);
  });
});

describe("ingest response → outcome", () => {
  const reply = (body: unknown, status = 200, retryAfter?: string) =>
    outcomeForIngestResponse(
      { status, body: JSON.stringify(body), ...(retryAfter === undefined ? {} : { retryAfter }) },
      5,
      NOW,
    );

  test("a 200 that accounts for every line is delivered, with only the permanent rejections", () => {
    assert.deepEqual(reply({ accepted: 3, rejected: { acl_denied: 1, duplicate: 1 }, errors: [] }), {
      kind: "delivered",
      accepted: 3,
      rejected: { acl_denied: 1, duplicate: 1 },
      samples: [],
    });
  });

  test("a reason this agent does not know is counted as permanent, under its own name", () => {
    const outcome = reply({ accepted: 4, rejected: { some_new_reason: 1 }, errors: [] });
    assert.deepEqual(outcome.kind === "delivered" && outcome.rejected, { some_new_reason: 1 });
  });

  test("a 200 with lines refused for now is a retry of the whole batch; rate limits make it throttled", () => {
    const limited = reply({ accepted: 3, rejected: { rate_limited_key: 2 }, errors: [] }, 200, "2");
    assert.deepEqual(limited, {
      kind: "retry",
      afterMs: 2000,
      throttled: true,
      why: "the server took 3 of 5 lines and asked for 2 to be sent later (rate_limited_key: 2)",
    });
    const overflow = reply({ accepted: 4, rejected: { forward_overflow: 1 }, errors: [] });
    assert.equal(overflow.kind, "retry");
    assert.equal(overflow.kind === "retry" && overflow.throttled, undefined);
  });

  test("a 200 that does not account for every line sent is not trusted", () => {
    assert.equal(reply({ accepted: 4, rejected: {}, errors: [] }).kind, "retry");
    assert.equal(reply({ accepted: "5", rejected: {} }).kind, "retry");
    assert.equal(reply({ accepted: 5, rejected: { bad_value: -1 } }).kind, "retry");
    assert.equal(reply([5]).kind, "retry");
  });

  test("status codes: 413 too large, 429/503/408/5xx retry, other 4xx and 3xx fatal", () => {
    const kinds = Object.fromEntries(
      [413, 429, 503, 408, 500, 502, 400, 401, 403, 404, 405, 301, 204].map((status) => [
        status,
        outcomeForIngestResponse({ status, body: "" }, 5, NOW).kind,
      ]),
    );
    assert.deepEqual(kinds, {
      413: "too_large",
      429: "retry",
      503: "retry",
      408: "retry",
      500: "retry",
      502: "retry",
      400: "fatal",
      401: "fatal",
      403: "fatal",
      404: "fatal",
      405: "fatal",
      301: "fatal",
      204: "fatal",
    });
  });
});
