import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RejectReason } from "../../../../protocol/reasons.ts";
import { AFTER_SIGNATURE, BEFORE_SIGNATURE } from "../../../../server-stub/checks/pipeline.ts";
import type { IngestResult } from "../../../../server-stub/ingest/ingest.ts";
import { ingestFixture, NOW_S, sign, tamper } from "./fixture.ts";

async function reasonsOf(result: IngestResult | Promise<IngestResult>): Promise<string[]> {
  const settled = await result;
  return settled.errors.map((error) => error.reason);
}

const DAY = 86_400;

describe("the check pipeline, in DESIGN.md's order", () => {
  test("the steps run cheapest first: framing, parse, key, key rate, source rate, ACL, time; then dedupe", () => {
    assert.deepEqual(
      BEFORE_SIGNATURE.map((step) => step.name),
      [
        "checkFraming",
        "parseLine",
        "findKey",
        "takeKeyToken",
        "takeSourceToken",
        "checkMetricAcl",
        "checkTime",
      ],
    );
    assert.deepEqual(
      AFTER_SIGNATURE.map((step) => step.name),
      ["dropDuplicate"],
    );
  });

  test("a line failing two checks is refused by the earlier one", async () => {
    const { ingest } = ingestFixture();
    const cases: [string, string][] = [
      [`bad..metric ${"x".repeat(1100)}`, RejectReason.LineTooLong],
      ["bad..metric 1 1 nobody AAAA", RejectReason.BadMetric],
      [sign("metric9", 1, NOW_S - 10 * DAY, "nobody", "x"), RejectReason.UnknownKey],
      [sign("metric9", 1, NOW_S - 10 * DAY), RejectReason.AclDenied],
      [tamper(sign("metric1", 1, NOW_S - 10 * DAY)), RejectReason.TimestampTooOld],
      [sign("metric1", 1, NOW_S + DAY), RejectReason.TimestampInFuture],
      [tamper(sign("metric1", 1, NOW_S)), RejectReason.BadSignature],
    ];
    for (const [line, reason] of cases) {
      assert.deepEqual(await reasonsOf(ingest.submit([line], "10.0.0.1")), [reason], line.slice(0, 40));
    }
  });

  test("the key's bucket comes before the source's, and both before the ACL", async () => {
    const { ingest } = ingestFixture({ sourceRate: 1, sourceBurst: 2 });
    const lines = [
      sign("metric1", 1, NOW_S, "slow", "slow_secret"),
      sign("metric1", 2, NOW_S, "slow", "slow_secret"),
      sign("metric9", 3, NOW_S),
      sign("metric9", 4, NOW_S),
    ];
    assert.deepEqual(await reasonsOf(ingest.submit(lines, "10.0.0.1")), [
      RejectReason.RateLimitedKey,
      RejectReason.AclDenied,
      RejectReason.RateLimitedSource,
    ]);
  });

  test("a good line is forwarded once; the same line again is a duplicate", async () => {
    const { ingest, sink, stats } = ingestFixture();
    const line = sign("metric1", 57, NOW_S);
    const first = await ingest.submit([line, line], "10.0.0.1");
    assert.equal(first.accepted, 1);
    assert.deepEqual(first.errors, [{ line: 2, reason: RejectReason.Duplicate }]);
    await first.forwarded;
    assert.deepEqual(sink.lines, [`metric1 57 ${NOW_S}\n`]);
    assert.equal(stats.perKey.get("my_public_key")?.accepted, 1);
    assert.equal(stats.perKey.get("my_public_key")?.rejected.get(RejectReason.Duplicate), 1);
  });

  test("when the forwarder is full the line is refused as forward_overflow and may be sent again", async () => {
    const { ingest, sink } = ingestFixture();
    const line = sign("metric1", 5, NOW_S);
    sink.open = false;
    assert.deepEqual(await reasonsOf(ingest.submit([line], "10.0.0.1")), [RejectReason.ForwardOverflow]);
    sink.open = true;
    assert.equal((await ingest.submit([line], "10.0.0.1")).accepted, 1);
  });

  test("failed lines use up the source's budget; rate limits and duplicates do not", async () => {
    const { ingest } = ingestFixture({ failures: { maxFailures: 2, windowMs: 60_000, blockMs: 60_000 } });
    const good = sign("metric1", 1, NOW_S);
    const first = await ingest.submit([good, good, good, "junk", "junk"], "10.0.0.9");
    assert.equal(first.sourceBlocked, false);
    const second = await ingest.submit(["junk", good], "10.0.0.9");
    assert.equal(second.sourceBlocked, true);
    assert.deepEqual(
      second.errors.map((error) => error.reason),
      [RejectReason.FieldCount, RejectReason.SourceBlocked],
    );
    assert.ok(second.retryAfterMs > 59_000);
    assert.equal(
      (await ingest.submit([sign("metric2", 1, NOW_S)], "10.0.0.10")).accepted,
      1,
      "another source is unaffected",
    );
  });
});
