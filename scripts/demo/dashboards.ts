import { fileURLToPath } from "node:url";
import { format, resolveConfig } from "prettier";

/**
 * The dashboards, defined once and written out in two formats (dashboards/ holds the output):
 *   - graphite-web: the `state` its dashboard UI saves (POST /dashboard/save/<name>), the device
 *     one as a template (`__VALUE__` = the device; POST /dashboard/save_template/<name>/__VALUE__);
 *   - Grafana: dashboard JSON for import, with a Graphite data source input and a variable.
 * `$device` and `$server` in a target are the variables; every other name is a metric path the
 * agent (agent/collectors/README.md) or the server (server-stub/metrics/carbon-report.ts) writes.
 */

export interface Panel {
  readonly title: string;
  /** Graphite targets; `$device` / `$server` stand for the dashboard's variable. */
  readonly targets: readonly string[];
  /** Grafana unit id. */
  readonly unit: string;
  /** graphite-web's y-axis title. */
  readonly vtitle: string;
  readonly min?: number;
  readonly max?: number;
}

export interface Section {
  readonly title: string;
  readonly panels: readonly Panel[];
}

export interface DashboardDefinition {
  /** graphite-web dashboard name and Grafana uid. */
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly variable: {
    readonly name: "device" | "server";
    readonly label: string;
    /** The Graphite query that lists its values. */
    readonly query: string;
    /** Values of that query to leave out (a JavaScript regex, as Grafana takes it). */
    readonly regex: string;
    /** graphite-web has no variables: the server dashboard takes every server (`*`). */
    readonly graphiteValue?: string;
  };
  readonly sections: readonly Section[];
}

const D = "homeward.$device";

export const DEVICE_DASHBOARD: DashboardDefinition = {
  name: "homeward-device",
  title: "homeward device",
  description:
    "One device: CPU, temperature and throttling, memory, disk, network health and the agent's buffer.",
  variable: {
    name: "device",
    label: "Device",
    query: "homeward.*",
    regex: "/^(?!server$).*$/",
  },
  sections: [
    {
      title: "CPU",
      panels: [
        {
          title: "CPU use",
          vtitle: "% of all CPUs",
          unit: "percent",
          min: 0,
          max: 100,
          targets: [`aliasByNode(${D}.system.cpu.{busy,user,system,iowait,steal}_pct, 4)`],
        },
        {
          title: "Load average",
          vtitle: "runnable tasks",
          unit: "short",
          min: 0,
          targets: [`aliasByNode(${D}.system.load.{1m,5m,15m}, 4)`],
        },
      ],
    },
    {
      title: "Temperature and throttling",
      panels: [
        {
          title: "Temperatures",
          vtitle: "°C",
          unit: "celsius",
          targets: [
            `alias(${D}.pi.soc_temp_c, "SoC")`,
            `alias(${D}.system.cpu_temp_c, "CPU")`,
            `aliasByNode(${D}.pi.thermal.*.temp_c, 4)`,
            `aliasByNode(${D}.pi.w1.*.temp_c, 4)`,
          ],
        },
        {
          title: "Throttling and under-voltage (1 = now)",
          vtitle: "0 / 1",
          unit: "short",
          min: 0,
          max: 1,
          targets: [`aliasByNode(${D}.pi.throttled.*_now, 4)`],
        },
        {
          title: "CPU frequency",
          vtitle: "MHz",
          unit: "short",
          min: 0,
          targets: [`aliasByNode(${D}.pi.cpufreq.*.mhz, 4)`],
        },
      ],
    },
    {
      title: "Memory",
      panels: [
        {
          title: "Memory and swap used",
          vtitle: "%",
          unit: "percent",
          min: 0,
          max: 100,
          targets: [
            `alias(${D}.system.memory.used_pct, "memory")`,
            `alias(${D}.system.swap.used_pct, "swap")`,
          ],
        },
        {
          title: "Memory",
          vtitle: "bytes",
          unit: "bytes",
          min: 0,
          targets: [`aliasByNode(${D}.system.memory.{used,available,cached,buffers}_bytes, 4)`],
        },
      ],
    },
    {
      title: "Disk",
      panels: [
        {
          title: "Disk space used",
          vtitle: "%",
          unit: "percent",
          min: 0,
          max: 100,
          targets: [`aliasByNode(${D}.system.disk.*.used_pct, 4)`],
        },
        {
          title: "Disk I/O",
          vtitle: "bytes/s",
          unit: "Bps",
          min: 0,
          targets: [`aliasByNode(perSecond(${D}.system.diskio.*.{read_bytes,written_bytes}), 4, 5)`],
        },
      ],
    },
    {
      title: "Network health",
      panels: [
        {
          title: "Packet loss",
          vtitle: "%",
          unit: "percent",
          min: 0,
          max: 100,
          targets: [
            `aliasByNode(${D}.net.ping.*.loss_pct, 4)`,
            `alias(${D}.net.gateway.loss_pct, "gateway")`,
          ],
        },
        {
          title: "Round-trip time",
          vtitle: "ms",
          unit: "ms",
          min: 0,
          targets: [`aliasByNode(${D}.net.ping.*.rtt_ms, 4)`, `alias(${D}.net.gateway.rtt_ms, "gateway")`],
        },
        {
          title: "Probes up (1 = ok)",
          vtitle: "0 / 1",
          unit: "short",
          min: 0,
          max: 1,
          targets: [
            `aliasByNode(${D}.net.{tcp,dns,http}.*.ok, 3, 4)`,
            `alias(${D}.net.gateway.default_route, "default route")`,
          ],
        },
        {
          title: "Interface traffic",
          vtitle: "bytes/s",
          unit: "Bps",
          min: 0,
          targets: [`aliasByNode(perSecond(${D}.system.iface.*.{rx,tx}_bytes), 4, 5)`],
        },
        {
          title: "Wi-Fi signal",
          vtitle: "dBm",
          unit: "dBm",
          targets: [`aliasByNode(${D}.net.wifi.*.signal_dbm, 4)`],
        },
      ],
    },
    {
      title: "Buffer backlog",
      panels: [
        {
          title: "Lines waiting in the agent's buffer",
          vtitle: "lines",
          unit: "short",
          min: 0,
          targets: [`alias(${D}.self.buffer.depth, "lines waiting")`],
        },
        {
          title: "Age of the oldest waiting line, and of the last send",
          vtitle: "seconds",
          unit: "s",
          min: 0,
          targets: [
            `alias(${D}.self.buffer.oldest_age_s, "oldest waiting")`,
            `alias(${D}.self.ship.last_success_age_s, "since last send")`,
          ],
        },
        {
          title: "Lines dropped by the agent (since start)",
          vtitle: "lines",
          unit: "short",
          min: 0,
          targets: [`aliasByNode(${D}.self.dropped.*, 4)`],
        },
      ],
    },
  ],
};

const S = "homeward.server.$server";

export const SERVER_DASHBOARD: DashboardDefinition = {
  name: "homeward-server",
  title: "homeward server",
  description:
    "The server's own counters (--stats-interval): lines accepted and rejected, per reason and per device, and forwarding to Carbon. Several servers are summed.",
  variable: {
    name: "server",
    label: "Server",
    query: "homeward.server.*",
    regex: "",
    graphiteValue: "*",
  },
  sections: [
    {
      title: "Lines",
      panels: [
        {
          title: "Accepted and rejected lines",
          vtitle: "lines/s",
          unit: "short",
          min: 0,
          targets: [
            `alias(sumSeries(perSecond(${S}.lines.accepted)), "accepted")`,
            `alias(sumSeries(perSecond(${S}.lines.rejected.*)), "rejected")`,
          ],
        },
        {
          title: "Rejected lines per reason",
          vtitle: "lines/s",
          unit: "short",
          min: 0,
          targets: [`groupByNode(perSecond(${S}.lines.rejected.*), 5, "sumSeries")`],
        },
      ],
    },
    {
      title: "Per device",
      panels: [
        {
          title: "Accepted lines per device",
          vtitle: "lines/s",
          unit: "short",
          min: 0,
          targets: [`groupByNode(perSecond(${S}.keys.*.accepted), 4, "sumSeries")`],
        },
        {
          title: "Rejected lines per device and reason",
          vtitle: "lines/s",
          unit: "short",
          min: 0,
          targets: [`groupByNodes(perSecond(${S}.keys.*.rejected.*), "sumSeries", 4, 6)`],
        },
      ],
    },
    {
      title: "Forwarding to Carbon",
      panels: [
        {
          title: "Lines waiting (memory and spool)",
          vtitle: "lines",
          unit: "short",
          min: 0,
          targets: [`aliasByNode(${S}.forward.{queue_lines,spool_lines}, 2, 4)`],
        },
        {
          title: "Forwarded, spooled and replayed lines",
          vtitle: "lines/s",
          unit: "short",
          min: 0,
          targets: [
            `aliasByNode(perSecond(${S}.forward.{forwarded_lines,spooled_lines,replayed_lines}), 2, 4)`,
          ],
        },
        {
          title: "Carbon connections up",
          vtitle: "connections",
          unit: "short",
          min: 0,
          targets: [`aliasByNode(${S}.forward.carbon_connections_up, 2)`],
        },
        {
          title: "Lost lines and blocked sources (since start)",
          vtitle: "count",
          unit: "short",
          min: 0,
          targets: [
            `aliasByNode(${S}.forward.dropped.*, 2, 5)`,
            `aliasByNode(${S}.sources.blocked_total, 2, 4)`,
          ],
        },
      ],
    },
  ],
};

export const DASHBOARDS: readonly DashboardDefinition[] = [DEVICE_DASHBOARD, SERVER_DASHBOARD];

/** Every target of a dashboard, with its variable replaced by `value`. */
export function dashboardTargets(dashboard: DashboardDefinition, value: string): string[] {
  return dashboard.sections.flatMap((section) =>
    section.panels.flatMap((panel) => panel.targets.map((target) => fillVariable(target, dashboard, value))),
  );
}

function fillVariable(text: string, dashboard: DashboardDefinition, value: string): string {
  return text.replaceAll(`$${dashboard.variable.name}`, value);
}

// graphite-web ------------------------------------------------------------------------------

/** What graphite-web's template mechanism replaces with the value in /dashboard/<name>/<value>. */
export const GRAPHITE_TEMPLATE_KEY = "__VALUE__";

const GRAPH_WIDTH = 560;
const GRAPH_HEIGHT = 260;

/** The `target=a&target=b` id the dashboard UI gives a graph (Ext.urlEncode). */
function graphId(targets: readonly string[]): string {
  return targets.map((target) => `target=${encodeURIComponent(target)}`).join("&");
}

/**
 * The dashboard as graphite-web's UI saves it (dashboard.js getState()). The device dashboard is one
 * dashboard per device, `homeward-device-<device>`; without `value` its name, targets and titles
 * hold `__VALUE__`: replace that with a device name and POST it to /dashboard/save/<its name>, or
 * POST it as is to /dashboard/save_template/homeward-device/__VALUE__. The server dashboard takes
 * every server (`*`).
 */
export function graphiteWebState(
  dashboard: DashboardDefinition,
  value?: string,
  options: { readonly lastMinutes?: number } = {},
): Record<string, unknown> {
  const minutes = options.lastMinutes ?? 120;
  const filled = value ?? dashboard.variable.graphiteValue ?? GRAPHITE_TEMPLATE_KEY;
  const name =
    dashboard.variable.graphiteValue === undefined ? `${dashboard.name}-${filled}` : dashboard.name;
  const defaultGraphParams = {
    from: `-${minutes}minutes`,
    until: "now",
    width: GRAPH_WIDTH,
    height: GRAPH_HEIGHT,
  };
  const graphs = dashboard.sections.flatMap((section) =>
    section.panels.map((panel) => {
      const targets = panel.targets.map((target) => fillVariable(target, dashboard, filled));
      const title =
        dashboard.variable.graphiteValue === undefined
          ? `${filled}: ${section.title} — ${panel.title}`
          : `${section.title} — ${panel.title}`;
      const params: Record<string, unknown> = {
        target: targets,
        title,
        vtitle: panel.vtitle,
        ...(panel.min !== undefined && { yMin: panel.min }),
        ...(panel.max !== undefined && { yMax: panel.max }),
        lineWidth: 2,
      };
      const query = new URLSearchParams();
      for (const [key, item] of Object.entries({ ...defaultGraphParams, ...params })) {
        for (const one of Array.isArray(item) ? item : [item]) query.append(key, String(one));
      }
      return [graphId(targets), params, `/render?${query.toString()}`];
    }),
  );
  return {
    name,
    timeConfig: {
      type: "relative",
      relativeStartQuantity: String(minutes),
      relativeStartUnits: "minutes",
      relativeUntilQuantity: "",
      relativeUntilUnits: "now",
      startDate: "2026-01-01T09:00:00",
      startTime: "9:00 AM",
      endDate: "2026-01-01T17:00:00",
      endTime: "5:00 PM",
    },
    refreshConfig: { enabled: true, interval: 60_000 },
    graphSize: { width: GRAPH_WIDTH, height: GRAPH_HEIGHT },
    defaultGraphParams,
    graphs,
  };
}

// Grafana -----------------------------------------------------------------------------------

const DATASOURCE = { type: "graphite", uid: "${DS_GRAPHITE}" } as const;

export function grafanaDashboard(dashboard: DashboardDefinition): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const section of dashboard.sections) {
    panels.push({
      type: "row",
      id: id++,
      title: section.title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y: y++ },
      panels: [],
    });
    section.panels.forEach((panel, index) => {
      const x = (index % 2) * 12;
      if (index > 0 && index % 2 === 0) y += 8;
      panels.push({
        type: "timeseries",
        id: id++,
        title: panel.title,
        datasource: DATASOURCE,
        gridPos: { h: 8, w: 12, x, y },
        targets: panel.targets.map((target, targetIndex) => ({
          refId: String.fromCharCode(65 + targetIndex),
          datasource: DATASOURCE,
          target,
        })),
        fieldConfig: {
          defaults: {
            unit: panel.unit,
            ...(panel.min !== undefined && { min: panel.min }),
            ...(panel.max !== undefined && { max: panel.max }),
            custom: {
              drawStyle: "line",
              lineWidth: 1,
              fillOpacity: 10,
              spanNulls: true,
              showPoints: "never",
            },
          },
          overrides: [],
        },
        options: {
          legend: { displayMode: "list", placement: "bottom", showLegend: true },
          tooltip: { mode: "multi", sort: "none" },
        },
      });
    });
    y += 8;
  }
  const variable = dashboard.variable;
  return {
    __inputs: [
      {
        name: "DS_GRAPHITE",
        label: "Graphite",
        description: "the Graphite that homeward server's Carbon writes to",
        type: "datasource",
        pluginId: "graphite",
        pluginName: "Graphite",
      },
    ],
    __requires: [
      { type: "grafana", id: "grafana", name: "Grafana", version: "10.0.0" },
      { type: "datasource", id: "graphite", name: "Graphite", version: "1.0.0" },
      { type: "panel", id: "timeseries", name: "Time series", version: "" },
    ],
    uid: dashboard.name,
    title: dashboard.title,
    description: dashboard.description,
    tags: ["homeward"],
    editable: true,
    graphTooltip: 1,
    timezone: "browser",
    schemaVersion: 39,
    version: 1,
    time: { from: "now-6h", to: "now" },
    refresh: "1m",
    templating: {
      list: [
        {
          name: variable.name,
          label: variable.label,
          type: "query",
          datasource: DATASOURCE,
          definition: variable.query,
          query: variable.query,
          regex: variable.regex,
          refresh: 2,
          sort: 1,
          hide: 0,
          multi: variable.graphiteValue !== undefined,
          includeAll: variable.graphiteValue !== undefined,
          ...(variable.graphiteValue !== undefined && { allValue: variable.graphiteValue }),
          current: {},
          options: [],
        },
      ],
    },
    annotations: { list: [] },
    links: [],
    panels,
  };
}

/**
 * dashboards/<path> → its JSON text, formatted as prettier formats it (so `prettier --check .`
 * agrees), for build-dashboards.ts and the test that keeps the files in step with this module.
 */
export async function dashboardFiles(): Promise<Map<string, string>> {
  const options = { ...(await resolveConfig(fileURLToPath(import.meta.url))), parser: "json" };
  const files = new Map<string, unknown>([
    ["graphite-web/homeward-device.json", graphiteWebState(DEVICE_DASHBOARD)],
    ["graphite-web/homeward-server.json", graphiteWebState(SERVER_DASHBOARD)],
    ["grafana/homeward-device.json", grafanaDashboard(DEVICE_DASHBOARD)],
    ["grafana/homeward-server.json", grafanaDashboard(SERVER_DASHBOARD)],
  ]);
  const texts = new Map<string, string>();
  for (const [path, value] of files) texts.set(path, await format(JSON.stringify(value), options));
  return texts;
}
