// The whole system on this machine, on loopback: `npm run demo` (or node --import tsx scripts/demo.ts).
// Carbon and graphite-web from Debian's packages (installed when missing and root), a demo device key
// and auth file, `homeward server` with its status page, and `homeward agent` on fast schedules.
// Where Graphite cannot be had, the server forwards to a line printer and the lines are shown instead.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { parseArgs } from "node:util";
import { commands } from "../bin/commands/index.ts";
import { isValidKeyId } from "../protocol/line.ts";
import { startCarbon } from "../test/harness/carbon.ts";
import type { Carbon } from "../test/harness/carbon.ts";
import { makeTempDir, removeTempDir } from "../test/harness/cleanup.ts";
import { freePorts, LOOPBACK } from "../test/harness/free-port.ts";
import { startGraphiteWeb } from "../test/harness/graphite-web.ts";
import type { GraphiteWeb } from "../test/harness/graphite-web.ts";
import { describeExit, waitForListening } from "../test/harness/process.ts";
import {
  DEVICE_DASHBOARD,
  GRAPHITE_TEMPLATE_KEY,
  graphiteWebState,
  SERVER_DASHBOARD,
} from "./demo/dashboards.ts";
import { agentConfig, demoPassword, writeAgentConfig, writeDemoKeys } from "./demo/demo-files.ts";
import { spawnHomeward } from "./demo/homeward-process.ts";
import type { HomewardProcess } from "./demo/homeward-process.ts";
import { startLinePrinter } from "./demo/line-printer.ts";
import type { LinePrinter } from "./demo/line-printer.ts";
import { ensureGraphite } from "./demo/prerequisites.ts";

const USAGE = `Usage: npm run demo -- [--headless] [--for <seconds>] [--device <name>] [--graphite-port <port>] [--no-install] [--no-graphite]

Runs homeward on this machine, on 127.0.0.1: Carbon and graphite-web (Debian packages, installed
with apt-get when missing and run as root), homeward server with its status page, and one agent
on fast schedules. Prints where to look. Ctrl-C stops everything and removes the demo's files.

  --headless        no terminal needed: one JSON line per event on stdout, the rest on stderr
  --for <seconds>   stop by itself after this long (default: run until Ctrl-C or SIGTERM)
  --device <name>   the demo device's name (default demo-pi)
  --graphite-port   graphite-web's port (default: a free one)
  --no-install      do not run apt-get; without Graphite the forwarded lines are printed instead
  --no-graphite     print the forwarded lines even where Graphite is installed`;

/** The demo's storage schema: one point per 15 s, the server's stats interval and the net schedule. */
const DEMO_RETENTIONS = "15s:2d";
const STATS_INTERVAL = "15s";
const STATUS_USER = "demo";
/** The demo's dashboards show the last half hour: a demo has no older data. */
const DEMO_MINUTES = 30;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      headless: { type: "boolean" },
      for: { type: "string" },
      device: { type: "string" },
      "graphite-port": { type: "string" },
      "no-install": { type: "boolean" },
      "no-graphite": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const seconds = values.for === undefined ? undefined : Number(values.for);
  const graphitePort = values["graphite-port"] === undefined ? undefined : Number(values["graphite-port"]);
  const device = values.device ?? "demo-pi";
  const problems = [
    seconds !== undefined && !(seconds > 0) ? "--for takes a number of seconds above 0" : "",
    graphitePort !== undefined &&
    !(Number.isInteger(graphitePort) && graphitePort > 0 && graphitePort < 65536)
      ? "--graphite-port takes a port number"
      : "",
    !isValidKeyId(device) || device === "server"
      ? "--device must match [A-Za-z0-9_-]{1,64} and not be server"
      : "",
  ].filter(Boolean);
  if (problems.length > 0) {
    process.stderr.write(`${problems.join("\n")}\n\n${USAGE}\n`);
    process.exit(2);
  }
  return {
    headless: values.headless === true,
    forMs: seconds === undefined ? undefined : seconds * 1000,
    device,
    graphitePort,
    install: values["no-install"] !== true && values["no-graphite"] !== true,
    graphite: values["no-graphite"] !== true,
  };
}

async function main(): Promise<number> {
  const options = parseOptions();
  const say = (text: string): void => {
    (options.headless ? process.stderr : process.stdout).write(`${text}\n`);
  };
  const event = (fields: Record<string, unknown>): void => {
    if (options.headless) process.stdout.write(`${JSON.stringify(fields)}\n`);
  };

  const { available, notes } = options.graphite
    ? ensureGraphite({ install: options.install, quiet: options.headless })
    : { available: { carbon: false, graphiteWeb: false }, notes: ["--no-graphite: not using Graphite"] };
  for (const note of notes) say(`demo: ${note}`);
  const agentAvailable = commands.some((command) => command.name === "agent");

  const dir = makeTempDir("demo");
  const { device } = options;
  const { keyFile, authFile } = writeDemoKeys(join(dir, "keys"), device);
  const statusPassword = demoPassword();

  let carbon: Carbon | undefined;
  let web: GraphiteWeb | undefined;
  let printer: LinePrinter | undefined;
  let server: HomewardProcess | undefined;
  let agent: HomewardProcess | undefined;
  let stopping = false;

  const shutdown = async (): Promise<void> => {
    stopping = true;
    // The agent first, so that what it holds is shipped while the server and Carbon still run.
    await agent?.proc.stop();
    await server?.proc.stop();
    await web?.dispose();
    await carbon?.dispose();
    await printer?.close();
    await removeTempDir(dir);
  };

  try {
    if (available.carbon) {
      carbon = await startCarbon({ retentions: DEMO_RETENTIONS });
      if (available.graphiteWeb) {
        web = await startGraphiteWeb({
          whisperDir: carbon.whisperDir,
          carbonlinkPort: carbon.cacheQueryPort,
          dir: join(dir, "graphite-web"),
          timeZone: localTimeZone(),
          ...(options.graphitePort !== undefined && { port: options.graphitePort }),
        });
      }
    } else {
      say(
        "demo: without Graphite, the server forwards to a line printer: these are the lines Carbon would store.",
      );
      printer = await startLinePrinter((line) => say(`carbon> ${line}`));
    }
    const carbonPort = carbon?.linePort ?? (printer as LinePrinter).port;

    const [httpPort, statusPort, metricsPort] = (await freePorts(3)) as [number, number, number];
    server = spawnHomeward(
      "homeward-server",
      [
        "server",
        "--auth-file",
        authFile,
        "--carbon-addr",
        `${LOOPBACK}:${carbonPort}`,
        "--listen",
        `http://${LOOPBACK}:${httpPort}`,
        "--status-addr",
        `${LOOPBACK}:${statusPort}`,
        "--metrics-addr",
        `${LOOPBACK}:${metricsPort}`,
        "--state-dir",
        join(dir, "server"),
        "--stats-interval",
        STATS_INTERVAL,
      ],
      join(dir, "server.log"),
      { ADDR: "", LISTEN: "", HOMEWARD_STATUS_AUTH: `${STATUS_USER}:${statusPassword}` },
    );
    await waitForListening(server.proc, [httpPort, statusPort, metricsPort], 30_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${server?.tail()}`);
    });

    if (web) {
      await web.saveTemplate(
        DEVICE_DASHBOARD.name,
        GRAPHITE_TEMPLATE_KEY,
        graphiteWebState(DEVICE_DASHBOARD),
      );
      await web.saveDashboard(
        `${DEVICE_DASHBOARD.name}-${device}`,
        graphiteWebState(DEVICE_DASHBOARD, device, { lastMinutes: DEMO_MINUTES }),
      );
      await web.saveDashboard(
        SERVER_DASHBOARD.name,
        graphiteWebState(SERVER_DASHBOARD, undefined, { lastMinutes: DEMO_MINUTES }),
      );
    }

    const configFile = join(dir, "agent.json");
    const agentStateDir = join(dir, "agent");
    writeAgentConfig(
      configFile,
      agentConfig(device, keyFile, {
        serverUrl: `http://${LOOPBACK}:${httpPort}`,
        tcpProbe: `${LOOPBACK}:${httpPort}`,
        ...(web && { httpProbe: `${web.url}/version` }),
      }),
    );
    const agentArgs = ["agent", "--config", configFile, "--state-dir", agentStateDir];
    if (agentAvailable) agent = spawnHomeward("homeward-agent", agentArgs, join(dir, "agent.log"));

    const statusUrl = `http://${LOOPBACK}:${statusPort}/`;
    const renderUrl = web && `${web.url}/render?target=homeward.${device}.*.*&format=json&from=-10min`;
    say(
      [
        "",
        "homeward demo is running",
        `  device        ${device}   key ${keyFile}`,
        `  auth file     ${authFile}`,
        `  server        http://${LOOPBACK}:${httpPort}/v1/lines   log ${server.logFile}`,
        `  status page   ${statusUrl}   user ${STATUS_USER}, password ${statusPassword}`,
        agent
          ? `  agent         homeward ${agentArgs.join(" ")}   log ${agent.logFile}`
          : "  agent         not started: this build has no `homeward agent` command yet",
        ...(web
          ? [
              `  Graphite      ${web.url}/`,
              `    device dashboard   ${web.url}/dashboard/${DEVICE_DASHBOARD.name}-${device}`,
              `    server dashboard   ${web.url}/dashboard/${SERVER_DASHBOARD.name}`,
              `    raw data           ${renderUrl}`,
            ]
          : carbon
            ? ["  Graphite      graphite-web is not installed; Carbon runs without it"]
            : ["  Graphite      not used: forwarded lines are printed below as carbon> …"]),
        carbon
          ? `  data          whisper files in ${carbon.whisperDir}/homeward/${device}/`
          : "  data          not stored (no Carbon)",
        `  files         ${dir} (removed when the demo stops)`,
        options.forMs === undefined
          ? "Stop with Ctrl-C."
          : `Stops by itself after ${options.forMs / 1000} s.`,
        "",
      ].join("\n"),
    );
    event({
      event: "ready",
      device,
      dir,
      agent: agent !== undefined,
      carbon: carbon ? "carbon-cache" : "line-printer",
      whisper_dir: carbon?.whisperDir ?? null,
      graphite: web?.url ?? null,
      server: `http://${LOOPBACK}:${httpPort}`,
      metrics: `http://${LOOPBACK}:${metricsPort}/metrics`,
      status: { url: statusUrl, user: STATUS_USER, password: statusPassword },
      logs: { server: server.logFile, ...(agent && { agent: agent.logFile }) },
    });

    const stopSignal = new Promise<string>((resolve) => {
      process.once("SIGINT", () => resolve("SIGINT"));
      process.once("SIGTERM", () => resolve("SIGTERM"));
    });
    const timer = options.forMs === undefined ? undefined : delay(options.forMs, "time is up");
    const never = new Promise<never>(() => undefined);
    /** Rejects when the process dies while the demo is not stopping it. */
    const died = (proc: HomewardProcess | undefined): Promise<never> =>
      proc
        ? proc.proc.exited.then((status) =>
            stopping
              ? never
              : Promise.reject(
                  new Error(`${proc.proc.name} ${describeExit(status)}; its log:\n${proc.tail()}`),
                ),
          )
        : never;
    void watchForData(carbon, printer, device, say, event, () => stopping);
    const why = await Promise.race([stopSignal, ...(timer ? [timer] : []), died(server), died(agent)]);
    say(`demo: stopping (${why})`);
    event({ event: "stopping", why });
    await shutdown();
    return 0;
  } catch (error) {
    say(`demo: ${error instanceof Error ? error.message : String(error)}`);
    event({ event: "failed", error: error instanceof Error ? error.message : String(error) });
    await shutdown();
    return 1;
  }
}

/** This machine's time zone for graphite-web's axes, when the system's zone database knows it. */
function localTimeZone(): string {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return zone && /^[A-Za-z][A-Za-z0-9_+/-]*$/.test(zone) && existsSync(join("/usr/share/zoneinfo", zone))
    ? zone
    : "UTC";
}

/** Says once when the device's first data has reached Carbon (or the line printer). */
async function watchForData(
  carbon: Carbon | undefined,
  printer: LinePrinter | undefined,
  device: string,
  say: (text: string) => void,
  event: (fields: Record<string, unknown>) => void,
  stopped: () => boolean,
): Promise<void> {
  const started = Date.now();
  const prefix = `homeward.${device}.`;
  while (!stopped()) {
    let count = 0;
    if (carbon) {
      count = (await carbon.listMetrics().catch(() => [])).filter((name) => name.startsWith(prefix)).length;
    } else if (printer) {
      count = printer.count();
    }
    if (count > 0) {
      const seconds = Math.round((Date.now() - started) / 1000);
      say(
        `demo: data is arriving: ${count} ${carbon ? `series under ${prefix}*` : "lines so far"} after ${seconds} s`,
      );
      event({ event: "data", count, after_s: seconds });
      return;
    }
    await delay(1000);
  }
}

// Exits at once: a --for timer or a signal listener must not keep the process alive.
process.exit(await main());
