import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { disposeAfter, makeTempDir, removeTempDir, type AfterHook } from "./cleanup.ts";
import { freePorts, LOOPBACK } from "./free-port.ts";
import { spawnSupervised, waitForListening, type SupervisedProcess } from "./process.ts";
import {
  fetchPoints,
  listMetrics,
  nowSeconds,
  waitForPoints,
  type Expected,
  type FetchRange,
  type Point,
  type WaitOptions,
} from "./whisper.ts";

export const CARBON_CACHE = "/usr/bin/carbon-cache";

/**
 * Default retention: one archive of 1-second points for 10 days.
 *
 * Every point the server can forward (timestamps from now - max_age, 7 days by default, up to now)
 * then reads back with its exact timestamp and value, and nothing is ever aggregated. With a second,
 * coarser archive (e.g. `1s:1h,60s:10d`) a point older than the first archive is stored in the
 * second one, floored to the minute, and a whisper-fetch whose `from` lies beyond the first
 * archive reads the *whole* range from the coarse archive, so recent points come back averaged per
 * minute: an easy way to write a flaky test. The cost of one long fine archive is file size
 * (864000 points × 12 bytes ≈ 10 MB per metric), which WHISPER_SPARSE_CREATE turns into a few KB
 * on disk: only the blocks that hold points are allocated.
 *
 * Whisper keeps nothing older than the longest retention: points from a fixed date (the shared test
 * vectors use 1764000000, Nov 2025) are silently dropped, with nothing in carbon's log. Re-sign
 * such lines with a current timestamp to see them in Carbon. Points in the future are stored, but
 * whisper-fetch cannot read them until the clock has passed them.
 */
export const DEFAULT_RETENTIONS = "1s:10d";

export interface CarbonOptions {
  /** storage-schemas.conf `retentions` for every metric (default {@link DEFAULT_RETENTIONS}). */
  retentions?: string;
  /**
   * storage-aggregation.conf method, used only when `retentions` has more than one archive
   * (default `average`). With xFilesFactor 0, a point alone in its coarse bucket keeps its exact
   * value under `average` (and `last`, `min`, `max`, `sum`).
   */
  aggregationMethod?: "average" | "sum" | "last" | "max" | "min";
  /** Extra `KEY = value` lines for the [cache] section of carbon.conf. */
  extraSettings?: Record<string, string>;
  /** How long to wait for carbon-cache to listen (default 30 s). */
  startTimeoutMs?: number;
  /** Test context (or `{ after }` of a suite): stop carbon and remove its files afterwards. */
  t?: AfterHook;
}

export interface Carbon {
  readonly host: typeof LOOPBACK;
  /** Plaintext line protocol: `<metric> <value> <timestamp>\n`. */
  readonly linePort: number;
  readonly picklePort: number;
  readonly cacheQueryPort: number;
  /** Temp dir holding everything below. */
  readonly dir: string;
  readonly confDir: string;
  readonly storageDir: string;
  readonly whisperDir: string;
  readonly logDir: string;
  readonly retentions: string;
  isRunning(): boolean;
  /** Starts carbon-cache again on the same ports and storage (after stop() or kill()). */
  start(): Promise<void>;
  /**
   * Resolves once every point carbon-cache has read so far is written to whisper or is in the
   * writer's current pass (which a SIGTERM waits for). It sends a marker point
   * ({@link FLUSH_MARKER_METRIC}) and waits for it to reach whisper.
   */
  flush(): Promise<void>;
  /**
   * Stops carbon-cache and waits for it to exit: flush() (unless `{ flush: false }`), SIGTERM,
   * SIGKILL after a deadline. Without the flush, SIGTERM loses whatever arrived since the writer's
   * last pass (up to about a second of points): carbon-cache 1.1.7 does not write its cache out on
   * shutdown when its writer thread is between passes.
   */
  stop(options?: { flush?: boolean }): Promise<void>;
  /** SIGKILL, as in a crash: points not yet written are lost. */
  kill(): Promise<void>;
  /** stop() then start(). */
  restart(): Promise<void>;
  /** Kills carbon-cache and removes its temp dir. */
  dispose(): Promise<void>;
  /** carbon-cache's recent console output (all runs). */
  output(): string;
  /** Writes lines (without their trailing newline) to the line port on one connection. */
  sendLines(lines: readonly string[]): Promise<void>;
  fetchPoints(metric: string, range?: FetchRange): Promise<Point[]>;
  waitForPoints(metric: string, expected: Expected, options?: WaitOptions): Promise<Point[]>;
  /** Metrics with a whisper file, sorted, without the harness's own flush marker. */
  listMetrics(): Promise<string[]>;
}

/** The metric flush() writes; Carbon.listMetrics() leaves it out. */
export const FLUSH_MARKER_METRIC = "homeward_test_harness.flush_marker";

function carbonConf(
  paths: Record<"storage" | "whisper" | "lists" | "log" | "pid" | "conf", string>,
  ports: number[],
  extra: Record<string, string>,
): string {
  const [linePort, picklePort, cacheQueryPort] = ports;
  const settings: Record<string, string> = {
    // Empty: stay the user that runs the tests instead of switching to _graphite.
    USER: "",
    STORAGE_DIR: paths.storage,
    LOCAL_DATA_DIR: paths.whisper,
    WHITELISTS_DIR: paths.lists,
    LOG_DIR: paths.log,
    PID_DIR: paths.pid,
    CONF_DIR: paths.conf,
    DATABASE: "whisper",
    ENABLE_TAGS: "False",
    ENABLE_LOGROTATION: "False",
    MAX_CACHE_SIZE: "inf",
    MAX_UPDATES_PER_SECOND: "inf",
    MAX_UPDATES_PER_SECOND_ON_SHUTDOWN: "inf",
    MAX_CREATES_PER_MINUTE: "inf",
    MIN_TIMESTAMP_RESOLUTION: "1",
    LINE_RECEIVER_INTERFACE: LOOPBACK,
    LINE_RECEIVER_PORT: String(linePort),
    PICKLE_RECEIVER_INTERFACE: LOOPBACK,
    PICKLE_RECEIVER_PORT: String(picklePort),
    CACHE_QUERY_INTERFACE: LOOPBACK,
    CACHE_QUERY_PORT: String(cacheQueryPort),
    ENABLE_UDP_LISTENER: "False",
    ENABLE_MANHOLE: "False",
    ENABLE_AMQP: "False",
    USE_FLOW_CONTROL: "True",
    CACHE_WRITE_STRATEGY: "sorted",
    WHISPER_AUTOFLUSH: "True",
    WHISPER_SPARSE_CREATE: "True",
    WHISPER_FALLOCATE_CREATE: "False",
    // carbon.agents.* self-metrics would show up in listMetrics(); 0 turns them off.
    CARBON_METRIC_INTERVAL: "0",
    LOG_LISTENER_CONN_SUCCESS: "False",
    LOG_UPDATES: "False",
    LOG_CREATES: "True",
    LOG_CACHE_HITS: "False",
    ...extra,
  };
  const lines = Object.entries(settings).map(([key, value]) => `${key} = ${value}`.trimEnd());
  return `[cache]\n${lines.join("\n")}\n`;
}

function isBindFailure(output: string): boolean {
  return /Address already in use|CannotListenError/.test(output);
}

/** Writes lines to a Carbon line receiver on one TCP connection and waits until it is closed. */
export function sendCarbonLines(
  port: number,
  lines: readonly string[],
  host: string = LOOPBACK,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.end(lines.map((line) => `${line}\n`).join(""));
    });
    socket.once("close", (hadError) => {
      if (!hadError) resolve();
    });
    socket.resume();
  });
}

/**
 * Starts a real carbon-cache in the foreground on free 127.0.0.1 ports, with its config, storage,
 * logs and pidfile in a fresh temp dir, and resolves once its line and pickle ports accept
 * connections. Carbon writes to whisper asynchronously (about once a second): read points back
 * with `waitForPoints`, not `fetchPoints`, right after sending them.
 */
export async function startCarbon(options: CarbonOptions = {}): Promise<Carbon> {
  const retentions = options.retentions ?? DEFAULT_RETENTIONS;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const dir = makeTempDir("carbon");
  const confDir = join(dir, "conf");
  const storageDir = join(dir, "storage");
  const whisperDir = join(storageDir, "whisper");
  const logDir = join(dir, "log");
  const pidFile = join(dir, "carbon-cache.pid");
  for (const path of [confDir, whisperDir, join(storageDir, "lists"), logDir])
    mkdirSync(path, { recursive: true });

  writeFileSync(
    join(confDir, "storage-schemas.conf"),
    `# Written by test/harness/carbon.ts\n[everything]\npattern = .*\nretentions = ${retentions}\n`,
  );
  // xFilesFactor 0: a coarse bucket gets a value from a single fine point (the default, 0.5, would
  // leave it empty unless half of its fine points were present).
  writeFileSync(
    join(confDir, "storage-aggregation.conf"),
    `[everything]\npattern = .*\nxFilesFactor = 0\naggregationMethod = ${options.aggregationMethod ?? "average"}\n`,
  );
  const confFile = join(confDir, "carbon.conf");
  const writeConf = (ports: number[]): void =>
    writeFileSync(
      confFile,
      carbonConf(
        {
          storage: storageDir,
          whisper: whisperDir,
          lists: join(storageDir, "lists"),
          log: logDir,
          pid: dir,
          conf: confDir,
        },
        ports,
        options.extraSettings ?? {},
      ),
    );

  // Unbuffered, so the log is complete when carbon dies; no deprecation noise from Twisted.
  const env = { ...process.env, PYTHONUNBUFFERED: "1", PYTHONWARNINGS: "ignore" };
  let ports = await freePorts(3);
  let proc: SupervisedProcess | undefined;
  let previousOutput = "";

  const launch = async (): Promise<void> => {
    if (proc && !proc.exitStatus()) throw new Error("carbon-cache is already running");
    if (proc) previousOutput += proc.output();
    // A pidfile left by a SIGKILLed run would make carbon-cache refuse to start.
    rmSync(pidFile, { force: true });
    const current = spawnSupervised(
      CARBON_CACHE,
      ["--debug", `--config=${confFile}`, `--pidfile=${pidFile}`, `--logdir=${logDir}`, "start"],
      { name: "carbon-cache", cwd: dir, env },
    );
    proc = current;
    // Twisted logs "<Factory> starting on <port>" once a port is bound: a port that answers
    // without that line belongs to someone else.
    await waitForListening(current, ports.slice(0, 2), startTimeoutMs, (output) =>
      ports.every((port) => output.includes(`starting on ${port}\n`)),
    );
  };

  // Another process may take a port between freePorts() and carbon binding it: retry on new ports,
  // but only for the first start, since a restart must keep its ports.
  for (let attempt = 1; ; attempt++) {
    writeConf(ports);
    try {
      await launch();
      break;
    } catch (error) {
      await proc?.stop();
      if (attempt >= 3 || !isBindFailure(proc?.output() ?? "")) {
        await removeTempDir(dir);
        throw error;
      }
      ports = await freePorts(3);
    }
  }

  const [linePort, picklePort, cacheQueryPort] = ports as [number, number, number];
  let disposed = false;
  let flushCount = 0;
  const flush = async (): Promise<void> => {
    if (!proc || proc.exitStatus()) throw new Error("carbon-cache is not running");
    flushCount += 1;
    const marker: Point = [nowSeconds(), flushCount];
    await sendCarbonLines(linePort, [`${FLUSH_MARKER_METRIC} ${marker[1]} ${marker[0]}`]);
    await waitForPoints(whisperDir, FLUSH_MARKER_METRIC, [marker], {
      describe: () => `carbon-cache output (last 4 KiB):\n${carbon.output().slice(-4096)}`,
    });
  };
  const stop = async (stopOptions: { flush?: boolean } = {}): Promise<void> => {
    if (!proc || proc.exitStatus()) return;
    if (stopOptions.flush ?? true) await flush();
    await proc.stop();
  };
  const carbon: Carbon = {
    host: LOOPBACK,
    linePort,
    picklePort,
    cacheQueryPort,
    dir,
    confDir,
    storageDir,
    whisperDir,
    logDir,
    retentions,
    isRunning: () => proc !== undefined && proc.exitStatus() === undefined,
    start: launch,
    flush,
    stop,
    async kill() {
      await proc?.kill();
    },
    async restart() {
      await stop();
      await launch();
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      // Its storage is about to be deleted: no need for a clean (and slower) shutdown.
      await proc?.kill();
      await removeTempDir(dir);
    },
    output: () => previousOutput + (proc?.output() ?? ""),
    sendLines: (lines) => sendCarbonLines(linePort, lines),
    fetchPoints: (metric, range) => fetchPoints(whisperDir, metric, range),
    waitForPoints: (metric, expected, waitOptions) =>
      waitForPoints(whisperDir, metric, expected, {
        ...waitOptions,
        describe: () =>
          `  retentions: ${retentions} (whisper drops older points; it returns none later than now)\n` +
          `carbon-cache output (last 4 KiB):\n${carbon.output().slice(-4096)}`,
      }),
    listMetrics: async () =>
      (await listMetrics(whisperDir)).filter((metric) => metric !== FLUSH_MARKER_METRIC),
  };
  return disposeAfter(options.t, carbon);
}
