import type { Server } from "node:http";
import type { Logger } from "pino";
import type { AuthEntry } from "./auth/auth-file.ts";
import { AuthStore } from "./auth/auth-store.ts";
import type { CheckState } from "./checks/pipeline.ts";
import type { ServerOptions } from "./config.ts";
import { Forwarder } from "./forward/forwarder.ts";
import { openSpool } from "./forward/spool.ts";
import { Ingest } from "./ingest/ingest.ts";
import { ConnectionCaps } from "./limits/connection-caps.ts";
import { Dedupe } from "./limits/dedupe.ts";
import { FailureBudget } from "./limits/failure-budget.ts";
import { BucketMap } from "./limits/token-bucket.ts";
import type { BucketPolicy } from "./limits/token-bucket.ts";
import { HttpListener } from "./listeners/http.ts";
import { formatListenAddress } from "./listeners/listen-address.ts";
import type { ListenAddress } from "./listeners/listen-address.ts";
import type { Listener, ListenerContext } from "./listeners/listener.ts";
import { MqttLinesSubscriber } from "./listeners/mqtt.ts";
import { listenOn } from "./listeners/server-lifecycle.ts";
import { TcpListener } from "./listeners/tcp.ts";
import { TlsCredentials } from "./listeners/tls-credentials.ts";
import { TlsListener } from "./listeners/tls.ts";
import { RejectionLog } from "./log/rejection-log.ts";
import { carbonReport } from "./metrics/carbon-report.ts";
import { createMetricsServer } from "./metrics/metrics-server.ts";
import { createMetricsRegistry } from "./metrics/prometheus.ts";
import { ServerStats } from "./metrics/server-stats.ts";
import { DeviceBoard } from "./status/device-board.ts";
import { StatusServer } from "./status/status-server.ts";
import { SignatureChecker } from "./verify/signature-check.ts";

export interface ServerDeps {
  readonly log: Logger;
  readonly clock?: () => number;
}

export interface RunningServer {
  /** The bound listeners, in --listen order (real ports when 0 was asked for). */
  readonly listeners: readonly ListenAddress[];
  readonly metricsAddress?: { readonly host: string; readonly port: number };
  /** The status page's bound address, when --status-addr is set. */
  readonly statusAddress?: ListenAddress;
  /** SIGHUP: re-read the auth file and TLS certificates now. */
  reload(): void;
  /** SIGTERM: stop listening, finish what was read, flush to Carbon or the spool. */
  close(): Promise<void>;
}

const CLOSE_GRACE_MS = 2000;

/** Wiring only: builds the pieces from the options and starts them. */
export async function startServer(options: ServerOptions, deps: ServerDeps): Promise<RunningServer> {
  const { log } = deps;
  const clock = deps.clock ?? Date.now;
  const startedMs = clock();
  const auth = new AuthStore(options.authFile, log, { pollMs: options.authPollMs });
  const credentials = options.tls ? new TlsCredentials(options.tls, log) : undefined;
  const stats = new ServerStats();
  const spool = options.stateDir ? await openSpool(options.stateDir, options.spoolMaxBytes, log) : undefined;
  const forwarder = new Forwarder({
    carbon: options.carbon,
    connections: options.carbonConnections,
    ...(spool && { spool }),
    spoolMaxBytes: options.spoolMaxBytes,
    replayLinesPerSecond: options.replayRate,
    log,
  });
  const keyPolicies = new WeakMap<AuthEntry, BucketPolicy>();
  const state: CheckState = {
    auth: () => auth.current,
    maxLineBytes: options.maxLineBytes,
    keyBuckets: new BucketMap(100_000),
    sourceBuckets: new BucketMap(100_000),
    keyPolicy: (entry) => {
      let policy = keyPolicies.get(entry);
      if (!policy) {
        policy = { rate: entry.rate ?? options.keyRate, burst: entry.burst ?? options.keyBurst };
        keyPolicies.set(entry, policy);
      }
      return policy;
    },
    sourcePolicy: { rate: options.sourceRate, burst: options.sourceBurst },
    window: { skewMs: options.skewMs, maxAgeMs: options.maxAgeMs },
    dedupe: new Dedupe({ windowMs: options.dedupeWindowMs, maxEntries: options.dedupeEntries }),
  };
  auth.onReload((table) => state.keyBuckets.retain(new Set(table.entries.keys())));
  const failures = new FailureBudget({
    maxFailures: options.maxFailures,
    windowMs: options.failureWindowMs,
    blockMs: options.blockMs,
  });
  const signatures = new SignatureChecker({
    workers: options.verifyWorkers,
    onWorkerError: (error) => log.error({ error: error.message }, "verify worker failed; restarting it"),
  });
  const board = options.statusAddr ? new DeviceBoard({ keys: () => auth.current.entries }) : undefined;
  const ingest = new Ingest({
    state,
    signatures,
    sink: forwarder,
    failures,
    stats,
    rejections: new RejectionLog(
      log.child({ component: "rejections" }),
      undefined,
      () => stats.rejectionLogsSuppressed++,
    ),
    clock,
    onSourceBlocked: (source) =>
      log.warn({ source, block_for_ms: options.blockMs }, "source used up its failure budget; blocked"),
    ...(board && { onDecided: (context, reason) => board.observe(context, reason) }),
  });
  const caps = new ConnectionCaps({
    maxTotal: options.maxConnections,
    maxPerSource: options.maxConnectionsPerSource,
  });
  const context: ListenerContext = {
    ingest,
    caps,
    failures,
    stats,
    log,
    clock,
    maxLineBytes: options.maxLineBytes,
    idleTimeoutMs: options.idleTimeoutMs,
  };
  const listeners: Listener[] = options.listen.map((address) => {
    switch (address.scheme) {
      case "tcp":
        return new TcpListener(address, context);
      case "tls":
        return new TlsListener(address, context, credentials as TlsCredentials);
      case "http":
      case "https": {
        const limits = { maxBodyBytes: options.maxBodyBytes, maxInflatedBytes: options.maxInflatedBytes };
        return new HttpListener(
          address,
          context,
          limits,
          address.scheme === "https" ? credentials : undefined,
        );
      }
    }
  });

  forwarder.start();
  auth.start();
  credentials?.start();
  const mqttLines = options.mqtt ? new MqttLinesSubscriber(options.mqtt, { ingest, log }) : undefined;
  const bound: ListenAddress[] = [];
  try {
    for (const listener of listeners) bound.push(await listener.start());
    await mqttLines?.start();
  } catch (error) {
    await Promise.all(listeners.map((listener) => listener.close(0)));
    await mqttLines?.close(0);
    auth.close();
    credentials?.close();
    await signatures.close();
    await forwarder.close();
    throw error;
  }
  log.info(
    {
      listen: bound.map(formatListenAddress),
      carbon: `${options.carbon.host}:${options.carbon.port}`,
      verify_workers: signatures.workers,
      spool: spool ? options.stateDir : "none",
    },
    "homeward server started",
  );

  let metricsServer: Server | undefined;
  let metricsAddress: { host: string; port: number } | undefined;
  if (options.metricsAddr) {
    const registry = createMetricsRegistry({
      stats,
      forwarder: () => forwarder.stats(),
      auth: () => auth.stats(),
      verify: () => signatures.stats(),
      openConnections: () => caps.open,
      blockedSources: () => failures.blockedCount(clock()),
      tlsReloadErrors: () => credentials?.reloadErrors ?? 0,
    });
    metricsServer = createMetricsServer(registry, () => {
      const forward = forwarder.stats();
      return {
        ok: forwarder.accepting(),
        detail: {
          carbon_connections_up: forward.connectionsUp,
          spool_lines: forward.spoolDepth,
          auth_file_ok: auth.stats().fileOk,
        },
      };
    });
    const address = await listenOn(metricsServer, { scheme: "http", ...options.metricsAddr });
    metricsAddress = { host: address.host, port: address.port };
  }

  let statusServer: StatusServer | undefined;
  let statusAddress: ListenAddress | undefined;
  if (options.statusAddr && board) {
    statusServer = new StatusServer({
      address: options.statusAddr,
      users: options.statusUsers,
      board,
      ...(options.statusAddr.scheme === "https" &&
        credentials && {
          tls: credentials.current,
          onTlsReload: (listener) => credentials.onReload(listener),
        }),
      summary: () => {
        const forward = forwarder.stats();
        const authStats = auth.stats();
        return {
          nowMs: clock(),
          startedMs,
          accepted: stats.totalAccepted(),
          rejected: stats.totalRejected(),
          carbonConnectionsUp: forward.connectionsUp,
          carbonConnections: forward.connections,
          queuedLines: forward.queuedLines,
          spoolLines: forward.spoolDepth,
          authFileOk: authStats.fileOk,
          authKeys: authStats.keys,
        };
      },
    });
    statusAddress = await statusServer.start();
    log.info(
      { status: formatListenAddress(statusAddress), users: options.statusUsers.length },
      "status page",
    );
  }

  const report =
    options.statsIntervalMs > 0
      ? setInterval(() => {
          void forwarder.send(carbonReport(options.statsPrefix, stats, forwarder.stats(), clock()));
        }, options.statsIntervalMs)
      : undefined;
  report?.unref();

  let closing: Promise<void> | undefined;
  return {
    listeners: bound,
    ...(metricsAddress && { metricsAddress }),
    ...(statusAddress && { statusAddress }),
    reload: () => {
      auth.reload("SIGHUP");
      credentials?.reload("SIGHUP");
    },
    close: () => {
      closing ??= (async () => {
        log.info("shutting down: flushing to Carbon or the spool");
        if (report) clearInterval(report);
        auth.close();
        credentials?.close();
        await Promise.all(listeners.map((listener) => listener.close(CLOSE_GRACE_MS)));
        await mqttLines?.close(CLOSE_GRACE_MS);
        await signatures.close();
        // Lets batches whose verdicts just arrived reach the forwarder before it closes.
        await new Promise((resolve) => setImmediate(resolve));
        await forwarder.close();
        await new Promise<void>((resolve) =>
          metricsServer ? metricsServer.close(() => resolve()) : resolve(),
        );
        await statusServer?.close(0);
        log.info("stopped");
      })();
      return closing;
    },
  };
}
