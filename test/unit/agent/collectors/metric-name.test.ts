import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  defaultPrefix,
  metricName,
  mountSegment,
  sanitizeSegment,
  targetSegment,
} from "../../../../agent/collectors/metric-name.ts";
import { formatValue, toCarbonPoints } from "../../../../agent/collectors/points.ts";
import { formatCarbonLine, isValidMetric, parseCarbonLine } from "../../../../protocol/line.ts";

const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.constantFrom("", ".", "..", "a..b", " ", "\n"),
);

describe("metric names", () => {
  it("every name built from any prefix, collector and reading name passes isValidMetric", () => {
    fc.assert(
      fc.property(anyText, anyText, anyText, (prefix, collector, name) => {
        assert.ok(isValidMetric(metricName(prefix, collector, name)));
      }),
      { numRuns: 1000 },
    );
  });

  it("every target, mount and device segment is one valid segment", () => {
    fc.assert(
      fc.property(anyText, (text) => {
        for (const segment of [targetSegment(text), mountSegment(text), sanitizeSegment(text)]) {
          assert.ok(isValidMetric(segment) && !segment.includes("."), JSON.stringify(segment));
        }
        assert.ok(isValidMetric(defaultPrefix(text)));
      }),
      { numRuns: 1000 },
    );
  });

  it("names targets readably", () => {
    assert.equal(targetSegment("1.1.1.1"), "1_1_1_1");
    assert.equal(targetSegment("example.org:443"), "example_org:443");
    assert.equal(targetSegment("https://example.org/health?x=1"), "example_org_health_x_1");
    assert.equal(mountSegment("/"), "root");
    assert.equal(mountSegment("/boot/firmware"), "boot_firmware");
    assert.equal(
      metricName("homeward.grandma-pi", "exec.sensors", "temp.garage"),
      "homeward.grandma-pi.exec.sensors.temp.garage",
    );
    assert.equal(
      metricName("homeward.grandma-pi", "net", "ping.a b..c"),
      "homeward.grandma-pi.net.ping.a_b._.c",
    );
    assert.equal(defaultPrefix("grandma-pi"), "homeward.grandma-pi");
  });
});

describe("toCarbonPoints", () => {
  it("builds full names and Carbon values, dropping and counting non-finite values", () => {
    const { points, dropped } = toCarbonPoints("homeward.pi", {
      collector: "system",
      restamped: false,
      readings: [
        { name: "load.1m", value: 0.52, timestamp: 1_795_000_000 },
        { name: "bad", value: Number.NaN, timestamp: 1_795_000_000 },
        { name: "inf", value: Number.POSITIVE_INFINITY, timestamp: 1_795_000_000 },
        { name: "neg_zero", value: -0, timestamp: 1_795_000_000 },
      ],
    });
    assert.deepEqual(points, [
      { metric: "homeward.pi.system.load.1m", value: "0.52", timestamp: 1_795_000_000 },
      { metric: "homeward.pi.system.neg_zero", value: "0", timestamp: 1_795_000_000 },
    ]);
    assert.deepEqual(dropped, { reading_non_finite_value: 2 });
  });

  it("every finite value is written so the server's parser takes it back unchanged", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (value) => {
        const line = formatCarbonLine({ metric: "a.b", value: formatValue(value), timestamp: 1 });
        const parsed = parseCarbonLine(line);
        assert.ok(parsed.ok, line);
        assert.equal(Number(parsed.line.value), Object.is(value, -0) ? 0 : value);
      }),
      { numRuns: 1000 },
    );
  });
});
