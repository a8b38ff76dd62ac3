import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { test } from "node:test";
import { DEVICE_DASHBOARD, SERVER_DASHBOARD } from "../../../scripts/demo/dashboards.ts";
import type { DashboardDefinition } from "../../../scripts/demo/dashboards.ts";
import { launchChromium, newLoopbackContext } from "../../harness/chromium.ts";
import { pollUntil } from "../../harness/poll.ts";
import { spawnSupervised } from "../../harness/process.ts";
import type { SupervisedProcess } from "../../harness/process.ts";
import { REPO_ROOT } from "../../support/vectors.ts";

interface ReadyEvent {
  readonly event: "ready";
  readonly device: string;
  readonly dir: string;
  readonly agent: boolean;
  readonly carbon: string;
  readonly graphite: string | null;
  readonly status: { readonly url: string; readonly user: string; readonly password: string };
  readonly logs: Record<string, string>;
}

type Series = { target: string; datapoints: [number | null, number][] }[];

const DEMO = join(REPO_ROOT, "scripts", "demo.ts");

/** The demo's JSON events (stdout); its human text (stderr) is interleaved in the same output. */
function events(proc: SupervisedProcess): Record<string, unknown>[] {
  return proc
    .output()
    .split("\n")
    .filter((line) => line.startsWith('{"event"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function render(graphite: string, targets: readonly string[], from = "-10min"): Promise<Series> {
  const query = new URLSearchParams({ format: "json", from });
  for (const target of targets) query.append("target", target);
  const response = await fetch(`${graphite}/render?${query.toString()}`);
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as Series;
}

/** Points no older than `maxAgeSeconds` with a value. */
function recentValues(series: Series, maxAgeSeconds: number): number {
  const since = Date.now() / 1000 - maxAgeSeconds;
  return series.flatMap((one) => one.datapoints.filter(([value, time]) => value !== null && time >= since))
    .length;
}

function panelTargets(dashboard: DashboardDefinition, title: string, value: string): string[] {
  const panel = dashboard.sections
    .flatMap((section) => section.panels)
    .find((found) => found.title === title);
  assert.ok(panel, `no panel "${title}"`);
  return panel.targets.map((target) => target.replaceAll(`$${dashboard.variable.name}`, value));
}

/** The panels the demo fills on any Linux machine (temperatures, Wi-Fi and disks depend on the hardware). */
const DEVICE_PANELS_WITH_DATA = [
  "CPU use",
  "Load average",
  "Memory and swap used",
  "Memory",
  "Packet loss",
  "Round-trip time",
  "Probes up (1 = ok)",
  "Lines waiting in the agent's buffer",
  "Age of the oldest waiting line, and of the last send",
];
const SERVER_PANELS_WITH_DATA = ["Accepted and rejected lines", "Accepted lines per device"];

/**
 * HOMEWARD_UPDATE_SCREENSHOTS=1 saves docs/graphite-device-dashboard.png, after
 * HOMEWARD_SCREENSHOT_AFTER seconds of data (default 0; 900 makes a better picture).
 */
const SCREENSHOT_AFTER_S = Number(process.env.HOMEWARD_SCREENSHOT_AFTER ?? "0");

test(
  "npm run demo -- --headless: the agent's data reaches graphite-web",
  { timeout: 600_000 + SCREENSHOT_AFTER_S * 1000 },
  async (t) => {
    const demo = spawnSupervised(
      process.execPath,
      ["--import", "tsx", DEMO, "--headless", "--no-install", "--for", String(300 + SCREENSHOT_AFTER_S)],
      { name: "demo", cwd: REPO_ROOT },
    );
    t.after(() => demo.kill());
    const describe = (): string => `demo output:\n${demo.output().slice(-8000)}`;

    const ready = (await pollUntil(
      () => {
        if (demo.exitStatus()) throw new Error(`the demo exited before it was ready\n${describe()}`);
        return events(demo).find((event) => event.event === "ready");
      },
      { what: "the demo to be ready", timeoutMs: 180_000, intervalMs: 200, describe },
    )) as unknown as ReadyEvent;
    assert.equal(ready.carbon, "carbon-cache", "Carbon is not installed: apt-get install graphite-carbon");
    assert.ok(ready.graphite, "graphite-web is not installed: apt-get install graphite-web");
    assert.ok(ready.agent, "the demo started no agent");
    const graphite = ready.graphite;
    const device = ready.device;

    // The issue's check: /render?target=homeward.<device>.*.*&format=json has recent values.
    const series = await pollUntil(
      async () => {
        const found = await render(graphite, [`homeward.${device}.*.*`]);
        return recentValues(found, 120) > 0 ? found : undefined;
      },
      {
        what: `recent values for homeward.${device}.*.* in graphite-web`,
        timeoutMs: 120_000,
        intervalMs: 1000,
        describe,
      },
    );
    assert.ok(series.every((one) => one.target.startsWith(`homeward.${device}.`)));
    assert.ok(
      series.some((one) => one.target === `homeward.${device}.system.uptime_s`),
      series.map((one) => one.target).join("\n"),
    );

    // The dashboards' panels have data too: the device's collectors, then the server's own counters
    // (every 15 s; a rate needs two reports).
    for (const [dashboard, titles, value] of [
      [DEVICE_DASHBOARD, DEVICE_PANELS_WITH_DATA, device],
      [SERVER_DASHBOARD, SERVER_PANELS_WITH_DATA, "*"],
    ] as const) {
      for (const title of titles) {
        const targets = panelTargets(dashboard, title, value);
        await pollUntil(
          async () => (recentValues(await render(graphite, targets), 300) > 0 ? true : undefined),
          {
            what: `data in the "${title}" panel (${targets.join(", ")})`,
            timeoutMs: 120_000,
            intervalMs: 2000,
            describe,
          },
        );
      }
    }

    // The saved dashboard opens in graphite-web's UI.
    const page = await fetch(`${graphite}/dashboard/${DEVICE_DASHBOARD.name}-${device}`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /var initialState = JSON\.parse\(/);
    assert.match(html, /var initialError = null;/);

    // The status page knows the device.
    const auth = `Basic ${Buffer.from(`${ready.status.user}:${ready.status.password}`).toString("base64")}`;
    const status = (await (
      await fetch(`${ready.status.url}status.json`, { headers: { authorization: auth } })
    ).json()) as {
      devices: { key_id: string; state: string; accepted: number; buffer: { depth: number } | null }[];
    };
    const row = status.devices.find((candidate) => candidate.key_id === device);
    assert.equal(row?.state, "active");
    assert.ok((row?.accepted ?? 0) > 0);
    assert.ok(row?.buffer !== null, "no buffer report from the agent's self collector yet");

    if (process.env.HOMEWARD_UPDATE_SCREENSHOTS) {
      await delay(SCREENSHOT_AFTER_S * 1000);
      const browser = await launchChromium({ t });
      const context = await newLoopbackContext(browser, { viewport: { width: 1760, height: 1800 } });
      const dashboard = await context.newPage();
      await dashboard.goto(`${graphite}/dashboard/${DEVICE_DASHBOARD.name}-${device}`, {
        waitUntil: "networkidle",
      });
      // Not waitForFunction: graphite-web's page (ExtJS 3) breaks Playwright's polling helper.
      const graphsLoaded =
        "Array.from(document.images).filter((image) => image.src.includes('/render')).every((image) => image.complete && image.naturalWidth > 0)";
      await pollUntil(async () => ((await dashboard.evaluate(graphsLoaded)) === true ? true : undefined), {
        what: "the dashboard's graphs to load",
        timeoutMs: 60_000,
        intervalMs: 500,
      });
      await dashboard.screenshot({
        path: join(REPO_ROOT, "docs", "graphite-device-dashboard.png"),
        fullPage: true,
      });
    }

    const stopped = await demo.stop();
    assert.equal(stopped.code, 0, describe());
    assert.ok(events(demo).some((event) => event.event === "stopping"));
    assert.ok(!existsSync(ready.dir), `the demo left ${ready.dir} behind`);
  },
);

test(
  "npm run demo -- --no-graphite: the forwarded lines are printed instead",
  { timeout: 180_000 },
  async (t) => {
    const demo = spawnSupervised(
      process.execPath,
      ["--import", "tsx", DEMO, "--headless", "--no-graphite", "--for", "120"],
      { name: "demo", cwd: REPO_ROOT },
    );
    t.after(() => demo.kill());
    const describe = (): string => `demo output:\n${demo.output().slice(-8000)}`;
    const ready = (await pollUntil(() => events(demo).find((event) => event.event === "ready"), {
      what: "the demo to be ready",
      timeoutMs: 60_000,
      describe,
    })) as unknown as ReadyEvent;
    assert.equal(ready.carbon, "line-printer");
    assert.equal(ready.graphite, null);
    assert.match(demo.output(), /the server forwards to a line printer/);
    const printed = await pollUntil(
      () => {
        const lines = demo
          .output()
          .match(new RegExp(`^carbon> homeward\\.${ready.device}\\.\\S+ \\S+ \\d+$`, "gm"));
        return lines && lines.length >= 5 ? lines : undefined;
      },
      { what: "forwarded lines printed by the demo", timeoutMs: 60_000, describe },
    );
    const now = Date.now() / 1000;
    for (const line of printed) {
      const timestamp = Number(line.split(" ").at(-1));
      assert.ok(Math.abs(now - timestamp) < 120, line);
    }
    const stopped = await demo.stop();
    assert.equal(stopped.code, 0, describe());
  },
);
