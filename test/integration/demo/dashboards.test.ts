import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ALL_REJECT_REASONS } from "../../../protocol/reasons.ts";
import type { ForwarderStats } from "../../../server-stub/forward/forwarder.ts";
import { carbonReport } from "../../../server-stub/metrics/carbon-report.ts";
import { ServerStats } from "../../../server-stub/metrics/server-stats.ts";
import {
  dashboardFiles,
  dashboardTargets,
  DEVICE_DASHBOARD,
  GRAPHITE_TEMPLATE_KEY,
  graphiteWebState,
  SERVER_DASHBOARD,
} from "../../../scripts/demo/dashboards.ts";
import { REPO_ROOT } from "../../support/vectors.ts";
import { documentedMetricNames, expandBraces, globMatches, pathsInTarget } from "./metric-patterns.ts";

/** What the server's Carbon report writes, with every rejection reason and a lost-lines reason. */
function serverMetricNames(): string[] {
  const stats = new ServerStats();
  stats.accepted("grandma-pi", 3);
  for (const reason of ALL_REJECT_REASONS) {
    stats.rejected("grandma-pi", reason);
    stats.rejected("-", reason);
  }
  const forwarder: ForwarderStats = {
    connectionsUp: 1,
    connections: 2,
    queuedLines: 0,
    spoolDepth: 0,
    spoolBytes: 0,
    forwardedLines: 3,
    spooledLines: 0,
    replayedLines: 0,
    dropped: new Map([["spool_corrupt", 1]]),
  };
  return carbonReport("homeward.server.testhost", stats, forwarder, Date.now()).map(
    (line) => line.split(" ")[0] as string,
  );
}

describe("dashboards", () => {
  test("the files in dashboards/ are what scripts/demo/dashboards.ts makes (run build-dashboards.ts)", async () => {
    for (const [path, text] of await dashboardFiles()) {
      const file = join(REPO_ROOT, "dashboards", path);
      assert.equal(
        readFileSync(file, "utf8"),
        text,
        `${file} is out of date: node --import tsx scripts/demo/build-dashboards.ts`,
      );
    }
  });

  test("every device dashboard target asks for metrics the agent's collectors document", () => {
    const documented = documentedMetricNames(
      readFileSync(join(REPO_ROOT, "agent/collectors/README.md"), "utf8"),
    );
    assert.ok(documented.length > 60, `only ${documented.length} names read from the README`);
    assert.ok(documented.includes("self.buffer.depth"));
    assert.ok(documented.includes("system.disk.*.used_pct"));
    let checked = 0;
    for (const target of dashboardTargets(DEVICE_DASHBOARD, "grandma-pi")) {
      for (const path of pathsInTarget(target)) {
        assert.ok(
          path.startsWith("homeward.grandma-pi."),
          `${target}: ${path} is not under the device's prefix`,
        );
        for (const alternative of expandBraces(path.slice("homeward.grandma-pi.".length))) {
          checked++;
          assert.ok(
            documented.some((name) => globMatches(alternative, name)),
            `${target}: no documented metric matches ${alternative}`,
          );
        }
      }
    }
    assert.ok(checked >= 30, `only ${checked} paths checked`);
  });

  test("every server dashboard target asks for metrics the server's Carbon report writes", () => {
    const names = serverMetricNames();
    for (const target of dashboardTargets(SERVER_DASHBOARD, "testhost")) {
      const paths = pathsInTarget(target);
      assert.ok(paths.length > 0, target);
      for (const path of paths) {
        for (const alternative of expandBraces(path)) {
          assert.ok(
            names.some((name) => globMatches(alternative, name)),
            `${target}: the server writes nothing that matches ${alternative}`,
          );
        }
      }
    }
  });

  test("graphite-web: the state the dashboard UI saves, one graph per panel, the device filled in", () => {
    const template = graphiteWebState(DEVICE_DASHBOARD) as { name: string; graphs: unknown[][] };
    assert.equal(template.name, `homeward-device-${GRAPHITE_TEMPLATE_KEY}`);
    const panels = DEVICE_DASHBOARD.sections.flatMap((section) => section.panels);
    assert.equal(template.graphs.length, panels.length);
    const device = graphiteWebState(DEVICE_DASHBOARD, "grandma-pi") as typeof template;
    assert.equal(device.name, "homeward-device-grandma-pi");
    assert.ok(!JSON.stringify(device).includes(GRAPHITE_TEMPLATE_KEY));
    for (const [id, params, url] of device.graphs as [string, { target: string[] }, string][]) {
      assert.equal(id, params.target.map((target) => `target=${encodeURIComponent(target)}`).join("&"));
      assert.ok(params.target.every((target) => target.includes("homeward.grandma-pi.")));
      assert.ok(url.startsWith("/render?"));
    }
    // Replacing __VALUE__ in the file gives the same dashboard.
    assert.deepEqual(
      JSON.parse(JSON.stringify(template).replaceAll(GRAPHITE_TEMPLATE_KEY, "grandma-pi")),
      device,
    );
    const server = graphiteWebState(SERVER_DASHBOARD) as typeof template;
    assert.ok(JSON.stringify(server.graphs).includes("homeward.server.*.lines.accepted"));
  });

  test("Grafana: a Graphite data source input, the variable in every target", () => {
    for (const [path, text] of [
      ["grafana/homeward-device.json", "$device"],
      ["grafana/homeward-server.json", "$server"],
    ] as const) {
      const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, "dashboards", path), "utf8")) as {
        __inputs: { name: string; pluginId: string }[];
        templating: { list: { name: string; query: string; datasource: { uid: string } }[] };
        panels: {
          type: string;
          datasource?: { type: string; uid: string };
          targets?: { target: string }[];
        }[];
      };
      assert.deepEqual(
        dashboard.__inputs.map((input) => [input.name, input.pluginId]),
        [["DS_GRAPHITE", "graphite"]],
      );
      assert.equal(dashboard.templating.list[0]?.name, text.slice(1));
      assert.equal(dashboard.templating.list[0]?.datasource.uid, "${DS_GRAPHITE}");
      const graphs = dashboard.panels.filter((panel) => panel.type === "timeseries");
      assert.ok(graphs.length >= 6);
      for (const panel of graphs) {
        assert.deepEqual(panel.datasource, { type: "graphite", uid: "${DS_GRAPHITE}" });
        assert.ok(
          panel.targets?.every((target) => target.target.includes(text)),
          JSON.stringify(panel.targets),
        );
      }
    }
  });
});
