import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { AuthStoreStats } from "../auth/auth-store.ts";
import type { ForwarderStats } from "../forward/forwarder.ts";
import type { VerifyStats } from "../verify/signature-check.ts";
import type { ServerStats } from "./server-stats.ts";

/** Everything the metrics read, at collection time. */
export interface MetricSources {
  readonly stats: ServerStats;
  readonly forwarder: () => ForwarderStats;
  readonly auth: () => AuthStoreStats;
  readonly verify: () => VerifyStats;
  readonly openConnections: () => number;
  readonly blockedSources: () => number;
  readonly tlsReloadErrors: () => number;
}

const PREFIX = "homeward_server_";

/**
 * A prom-client registry whose metrics are filled in from the server's plain counters when
 * scraped, so the hot path pays for an integer increment, not a label lookup.
 */
export function createMetricsRegistry(sources: MetricSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });

  new Counter({
    name: `${PREFIX}lines_accepted_total`,
    help: "Lines that passed every check and were handed to the forwarder, by key",
    labelNames: ["key"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, counters] of sources.stats.perKey)
        if (counters.accepted > 0) this.inc({ key }, counters.accepted);
    },
  });
  new Counter({
    name: `${PREFIX}lines_rejected_total`,
    help: 'Lines refused, by key ("-" when the key is unknown or unreadable) and reason',
    labelNames: ["key", "reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, counters] of sources.stats.perKey) {
        for (const [reason, count] of counters.rejected) this.inc({ key, reason }, count);
      }
    },
  });
  new Counter({
    name: `${PREFIX}connections_refused_total`,
    help: "Connections closed by the server before or instead of reading lines, by why",
    labelNames: ["why"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [why, count] of sources.stats.connectionsRefused) this.inc({ why }, count);
    },
  });
  new Counter({
    name: `${PREFIX}sources_blocked_total`,
    help: "Times a source address used up its failure budget and was blocked",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sources.stats.sourcesBlocked);
    },
  });
  gauge(registry, "sources_blocked", "Source addresses blocked right now", sources.blockedSources);
  gauge(registry, "connections_open", "Open client connections, all listeners", sources.openConnections);

  gauge(
    registry,
    "carbon_connections_up",
    "Connections to Carbon that are up",
    () => sources.forwarder().connectionsUp,
  );
  gauge(
    registry,
    "carbon_connections",
    "Connections to Carbon configured",
    () => sources.forwarder().connections,
  );
  gauge(
    registry,
    "forward_queue_lines",
    "Accepted lines in memory on their way to Carbon",
    () => sources.forwarder().queuedLines,
  );
  gauge(
    registry,
    "spool_lines",
    "Lines in the disk spool waiting for Carbon",
    () => sources.forwarder().spoolDepth,
  );
  gauge(registry, "spool_bytes", "Bytes the disk spool takes", () => sources.forwarder().spoolBytes);
  counter(
    registry,
    "forwarded_lines_total",
    "Lines written to Carbon directly",
    () => sources.forwarder().forwardedLines,
  );
  counter(
    registry,
    "spooled_lines_total",
    "Lines written to the disk spool",
    () => sources.forwarder().spooledLines,
  );
  counter(
    registry,
    "replayed_lines_total",
    "Lines replayed from the spool to Carbon",
    () => sources.forwarder().replayedLines,
  );
  counter(
    registry,
    "resent_lines_total",
    "Lines written again because Carbon closed the connection right after they were written to it",
    () => sources.forwarder().resentLines ?? 0,
  );
  new Counter({
    name: `${PREFIX}forward_dropped_lines_total`,
    help: "Accepted lines lost anyway, by reason",
    labelNames: ["reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, count] of sources.forwarder().dropped) this.inc({ reason }, count);
    },
  });

  counter(registry, "auth_reloads_total", "Auth file reloads that took effect", () => sources.auth().reloads);
  counter(
    registry,
    "auth_reload_errors_total",
    "Auth file reloads refused (the last good table stays)",
    () => sources.auth().reloadErrors,
  );
  gauge(
    registry,
    "auth_file_ok",
    "1 when the auth file on disk is the table in force, 0 when it is broken",
    () => (sources.auth().fileOk ? 1 : 0),
  );
  gauge(registry, "auth_keys", "Keys in the auth table in force", () => sources.auth().keys);
  counter(registry, "tls_reload_errors_total", "TLS certificate reloads refused", sources.tlsReloadErrors);

  new Counter({
    name: `${PREFIX}verify_seconds_total`,
    help: "Time spent checking signatures (CPU time on workers; wall time on the main thread, sampled), by algorithm",
    labelNames: ["algorithm"],
    registers: [registry],
    collect() {
      this.reset();
      const stats = sources.verify();
      this.inc({ algorithm: "ed25519" }, stats.seconds.ed25519);
      this.inc({ algorithm: "hmac" }, stats.seconds.hmac);
    },
  });
  new Counter({
    name: `${PREFIX}verifications_total`,
    help: "Signatures checked, by algorithm",
    labelNames: ["algorithm"],
    registers: [registry],
    collect() {
      this.reset();
      const stats = sources.verify();
      this.inc({ algorithm: "ed25519" }, stats.count.ed25519);
      this.inc({ algorithm: "hmac" }, stats.count.hmac);
    },
  });
  return registry;
}

function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name: `${PREFIX}${name}`,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

function counter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name: `${PREFIX}${name}`,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}
