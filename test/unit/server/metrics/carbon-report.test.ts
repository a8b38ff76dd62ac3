import assert from "node:assert/strict";
import { test } from "node:test";
import { RejectReason } from "../../../../protocol/reasons.ts";
import { parseCarbonLine } from "../../../../protocol/line.ts";
import { carbonReport, metricSegment } from "../../../../server-stub/metrics/carbon-report.ts";
import { ServerStats } from "../../../../server-stub/metrics/server-stats.ts";

test("the server's counters as Carbon lines under the prefix, every one valid", () => {
  const stats = new ServerStats();
  stats.accepted("grandma-pi", 5);
  stats.accepted("my.dotted.key");
  stats.rejected("-", RejectReason.UnknownKey, 2);
  stats.rejected("grandma-pi", RejectReason.Duplicate);
  const forwarder = {
    connectionsUp: 2,
    connections: 2,
    queuedLines: 0,
    spoolDepth: 7,
    spoolBytes: 100,
    forwardedLines: 6,
    spooledLines: 7,
    replayedLines: 0,
    dropped: new Map([["spool_overflow", 1]]),
  };
  const lines = carbonReport("homeward.server.vps1", stats, forwarder, 1_764_000_000_500);
  for (const line of lines) assert.ok(parseCarbonLine(line).ok, line);
  const byMetric = new Map(
    lines.map((line) => line.trim().split(" ")).map(([metric, value]) => [metric, value]),
  );
  assert.equal(byMetric.get("homeward.server.vps1.lines.accepted"), "6");
  assert.equal(byMetric.get("homeward.server.vps1.lines.rejected.unknown_key"), "2");
  assert.equal(byMetric.get("homeward.server.vps1.keys.grandma-pi.rejected.duplicate"), "1");
  assert.equal(byMetric.get("homeward.server.vps1.keys.my_dotted_key.accepted"), "1");
  assert.equal(byMetric.get("homeward.server.vps1.keys.unknown.rejected.unknown_key"), "2");
  assert.equal(byMetric.get("homeward.server.vps1.forward.spool_lines"), "7");
  assert.equal(byMetric.get("homeward.server.vps1.forward.dropped.spool_overflow"), "1");
  assert.ok(lines.every((line) => line.endsWith(" 1764000000\n")));
  assert.equal(metricSegment("a.b c"), "a_b_c");
});
