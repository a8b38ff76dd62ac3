import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { compileMetricAcl, GlobError } from "../../../../server-stub/auth/metric-acl.ts";

function assertAllows(patterns: string[], allowed: string[], denied: string[]): void {
  const acl = compileMetricAcl(patterns);
  for (const metric of allowed)
    assert.equal(acl.allows(metric), true, `${patterns.join(",")} allows ${metric}`);
  for (const metric of denied)
    assert.equal(acl.allows(metric), false, `${patterns.join(",")} denies ${metric}`);
}

describe("metric ACLs: amproxy's exact names plus Graphite globs", () => {
  test("an exact name allows that metric only", () => {
    assertAllows(["home.pi.cpu"], ["home.pi.cpu"], ["home.pi.cpu.load", "home.pi", "home.pi.cpux"]);
  });

  test("* and ? stay within one segment", () => {
    assertAllows(["home.*.cpu"], ["home.pi.cpu", "home.x.cpu"], ["home.pi.x.cpu", "home.pi"]);
    assertAllows(["home.p?.cpu"], ["home.pi.cpu", "home.p2.cpu"], ["home.p.cpu", "home.pii.cpu"]);
  });

  test("[...] and {a,b} match one character or one of the options", () => {
    assertAllows(["home.pi[12].cpu"], ["home.pi1.cpu", "home.pi2.cpu"], ["home.pi3.cpu", "home.pi.cpu"]);
    assertAllows(["home.pi[!1].cpu"], ["home.pi2.cpu"], ["home.pi1.cpu"]);
    assertAllows(["home.{pi,nas}.cpu"], ["home.pi.cpu", "home.nas.cpu"], ["home.pc.cpu", "home.pi.nas.cpu"]);
  });

  test("** is any number of whole segments, zero included, at either end or in the middle", () => {
    assertAllows(["home.**"], ["home", "home.pi", "home.pi.cpu.load"], ["homex", "other.pi"]);
    assertAllows(["**.cpu"], ["cpu", "home.cpu", "home.pi.cpu"], ["home.cpux", "home.cpu.load"]);
    assertAllows(["home.**.cpu"], ["home.cpu", "home.pi.cpu", "home.a.b.cpu"], ["home.pi.load", "cpu"]);
  });

  test("exact names and globs together: either one allows", () => {
    assertAllows(["solo", "home.*"], ["solo", "home.pi"], ["solo.x", "home.pi.cpu"]);
  });

  test("a malformed glob is refused when the auth file is compiled", () => {
    assert.throws(() => compileMetricAcl(["home.[pi.cpu"]), GlobError);
    assert.throws(() => compileMetricAcl(["home.{pi.cpu"]), GlobError);
    assert.throws(() => compileMetricAcl(["home..*"]), GlobError);
  });
});
