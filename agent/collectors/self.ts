import { monitorEventLoopDelay } from "node:perf_hooks";
import type { IntervalHistogram } from "node:perf_hooks";
import type { ClockGuardStats } from "../clock/clock-guard.ts";
import type { SchedulerStats } from "../schedule/scheduler.ts";
import type { Collector, CollectContext, Reading } from "./collector.ts";
import { sanitizeSegment } from "./metric-name.ts";

/**
 * What the agent knows about itself. The parts it does not own (buffer, shipping) come from a stats
 * provider the main loop supplies; every section is optional, so the collector works before those
 * parts exist.
 */
export interface AgentStatsSnapshot {
  /** The disk buffer (queue/durable-queue.ts `QueueStats` fits). */
  readonly buffer?: { readonly depth: number; readonly bytes: number; readonly oldestAgeSeconds?: number };
  /** Lines dropped since start, by reason (buffer overflow, permanent rejections, clock guard...). */
  readonly dropped?: Readonly<Record<string, number>>;
  /** Wall-clock ms of the last batch the server accepted. */
  readonly lastShipWallMs?: number;
  /** Failed shipping attempts since start. */
  readonly shipErrors?: number;
  readonly clock?: ClockGuardStats;
  readonly scheduler?: SchedulerStats;
}

export type AgentStatsProvider = () => AgentStatsSnapshot | Promise<AgentStatsSnapshot>;

export interface SelfCollectorOptions {
  readonly stats: AgentStatsProvider;
  /**
   * The event-loop delay sampler's period. Every period is a wake-up of an otherwise idle process,
   * so it is coarser than Node's 10 ms default; lag is measured beyond this period.
   */
  readonly lagResolutionMs?: number;
  /** Injected for tests. */
  readonly monoNow?: () => number;
}

const DEFAULT_LAG_RESOLUTION_MS = 100;
const NS_PER_MS = 1e6;

export class SelfCollector implements Collector {
  readonly name = "self";
  readonly #histogram: IntervalHistogram;
  readonly #resolutionMs: number;
  readonly #monoNow: () => number;
  #lastCpu: NodeJS.CpuUsage;
  #lastMono: number;

  constructor(private readonly options: SelfCollectorOptions) {
    this.#resolutionMs = options.lagResolutionMs ?? DEFAULT_LAG_RESOLUTION_MS;
    this.#histogram = monitorEventLoopDelay({ resolution: this.#resolutionMs });
    this.#histogram.enable();
    this.#monoNow = options.monoNow ?? (() => performance.now());
    this.#lastCpu = process.cpuUsage();
    this.#lastMono = this.#monoNow();
  }

  async collect(context: CollectContext): Promise<Reading[]> {
    const readings: Reading[] = [];
    const add = (name: string, value: number | undefined): void => {
      if (value !== undefined && Number.isFinite(value)) readings.push({ name, value });
    };

    add("process.rss_bytes", process.memoryUsage.rss());
    add("process.heap_used_bytes", process.memoryUsage().heapUsed);
    const cpu = process.cpuUsage();
    const mono = this.#monoNow();
    const elapsedMs = mono - this.#lastMono;
    if (elapsedMs > 0) {
      const cpuMs = (cpu.user - this.#lastCpu.user + cpu.system - this.#lastCpu.system) / 1000;
      add("process.cpu_pct", round3((100 * cpuMs) / elapsedMs));
    }
    this.#lastCpu = cpu;
    this.#lastMono = mono;

    if (this.#histogram.count > 0) {
      const lag = (ns: number): number => round3(Math.max(0, ns / NS_PER_MS - this.#resolutionMs));
      add("event_loop.lag_p50_ms", lag(this.#histogram.percentile(50)));
      add("event_loop.lag_p99_ms", lag(this.#histogram.percentile(99)));
      add("event_loop.lag_max_ms", lag(this.#histogram.max));
    }
    this.#histogram.reset();

    const stats = await this.options.stats();
    if (stats.buffer) {
      add("buffer.depth", stats.buffer.depth);
      add("buffer.bytes", stats.buffer.bytes);
      add("buffer.oldest_age_s", stats.buffer.oldestAgeSeconds);
    }
    for (const [reason, count] of Object.entries(stats.dropped ?? {})) {
      add(`dropped.${sanitizeSegment(reason)}`, count);
    }
    if (stats.lastShipWallMs !== undefined) {
      add("ship.last_success_age_s", Math.max(0, Math.round((context.now - stats.lastShipWallMs) / 1000)));
    }
    add("ship.errors", stats.shipErrors);
    if (stats.clock) {
      add("clock.trusted", stats.clock.trusted ? 1 : 0);
      add("clock.held_readings", stats.clock.heldReadings);
    }
    for (const [name, run] of Object.entries(stats.scheduler ?? {})) {
      const prefix = `collector.${name.split(".").map(sanitizeSegment).join("_")}`;
      add(`${prefix}.runs`, run.runs);
      add(`${prefix}.errors`, run.errors);
      add(`${prefix}.overlaps_skipped`, run.overlapsSkipped);
      add(`${prefix}.timeouts`, run.timeouts);
      add(`${prefix}.duration_ms`, run.lastDurationMs === undefined ? undefined : round3(run.lastDurationMs));
    }
    return readings;
  }

  close(): void {
    this.#histogram.disable();
  }
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
