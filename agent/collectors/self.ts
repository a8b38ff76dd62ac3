import { monotonicMs } from "../../runtime/clock/monotonic.ts";
import type { ClockGuardStats } from "../clock/clock-guard.ts";
import type { SchedulerStats } from "../schedule/scheduler.ts";
import type { Collector, CollectContext, Reading } from "./collector.ts";
import { EventLoopLagSampler } from "./event-loop-lag.ts";
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
   * The event-loop lag sampler's period (event-loop-lag.ts). Every period is a wake-up of an
   * otherwise idle process, so it is coarser than perf_hooks' 10 ms default; lag is measured beyond
   * this period.
   */
  readonly lagResolutionMs?: number;
  /** Injected for tests. */
  readonly monoNow?: () => number;
}

const DEFAULT_LAG_RESOLUTION_MS = 100;

export class SelfCollector implements Collector {
  readonly name = "self";
  readonly #lag: EventLoopLagSampler;
  readonly #monoNow: () => number;
  #lastCpu: NodeJS.CpuUsage;
  #lastMono: number;

  constructor(private readonly options: SelfCollectorOptions) {
    this.#monoNow = options.monoNow ?? monotonicMs;
    this.#lag = new EventLoopLagSampler({
      periodMs: options.lagResolutionMs ?? DEFAULT_LAG_RESOLUTION_MS,
      monoNow: this.#monoNow,
    });
    this.#lag.start();
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

    const lag = this.#lag.take();
    if (lag !== undefined) {
      add("event_loop.lag_p50_ms", round3(lag.p50Ms));
      add("event_loop.lag_p99_ms", round3(lag.p99Ms));
      add("event_loop.lag_max_ms", round3(lag.maxMs));
    }

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
    this.#lag.stop();
  }
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
