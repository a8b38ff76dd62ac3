import { runCommand } from "../../hardware/command.ts";
import type { CommandRunner } from "../../hardware/command.ts";
import { readCpuFrequencies } from "../../hardware/cpufreq.ts";
import { readThermalZones, socZone } from "../../hardware/thermal.ts";
import { ThrottledReader } from "../../hardware/throttled.ts";
import type { ThrottledSourceSetting } from "../../hardware/throttled.ts";
import { readW1Temperatures } from "../../hardware/w1.ts";
import type { W1ProblemReason } from "../../hardware/w1.ts";
import type { Collector, CollectContext, Reading } from "./collector.ts";
import { sanitizeSegment } from "./metric-name.ts";

/** Raspberry Pi health: SoC temperature, throttling flags, CPU frequency, 1-Wire sensors. */
export interface PiCollectorOptions {
  /** `/` on a device; a fixture tree in tests. */
  readonly root: string;
  readonly throttled: ThrottledSourceSetting;
  /** Friendly names for 1-Wire sensors: `{"28-0316a2795aff": "greenhouse"}`. */
  readonly w1Names?: Readonly<Record<string, string>>;
  readonly w1: boolean;
  readonly run?: CommandRunner;
}

export class PiCollector implements Collector {
  readonly name = "pi";
  readonly #throttled: ThrottledReader;
  /** Cumulative read failures per sensor, so a flaky sensor shows up in Graphite, not only in the log. */
  readonly #w1Errors = new Map<string, number>();
  readonly #w1LastProblem = new Map<string, W1ProblemReason | undefined>();

  constructor(private readonly options: PiCollectorOptions) {
    this.#throttled = new ThrottledReader({
      root: options.root,
      source: options.throttled,
      run: options.run ?? runCommand,
    });
  }

  async collect(context: CollectContext): Promise<Reading[]> {
    const { root } = this.options;
    const readings: Reading[] = [];
    const add = (name: string, value: number): void => {
      if (Number.isFinite(value)) readings.push({ name, value });
    };

    const [zones, frequencies, throttled] = await Promise.all([
      readThermalZones(root).catch(() => []),
      readCpuFrequencies(root).catch(() => []),
      this.#throttled.read(context.signal).catch((error: unknown) => {
        context.log.debug({ err: error }, "pi: throttling flags unreadable");
        return undefined;
      }),
    ]);

    const soc = socZone(zones);
    if (soc) add("soc_temp_c", soc.celsius);
    for (const zone of zones) {
      if (zone !== soc) add(`thermal.${sanitizeSegment(zone.zone)}.temp_c`, zone.celsius);
    }
    for (const { cpu, mhz } of frequencies) add(`cpufreq.${sanitizeSegment(cpu)}.mhz`, mhz);
    if (throttled) {
      for (const [flag, value] of Object.entries(throttled.flags)) add(`throttled.${flag}`, value);
      if (throttled.word !== undefined) add("throttled.word", throttled.word);
    }

    if (this.options.w1) {
      const { readings: sensors, problems } = await readW1Temperatures(root, context.signal);
      for (const sensor of sensors) {
        const name = this.#sensorName(sensor.id);
        add(`w1.${name}.temp_c`, sensor.celsius);
        add(`w1.${name}.read_errors`, this.#w1Errors.get(sensor.id) ?? 0);
        this.#w1LastProblem.set(sensor.id, undefined);
      }
      for (const problem of problems) {
        const errors = (this.#w1Errors.get(problem.id) ?? 0) + 1;
        this.#w1Errors.set(problem.id, errors);
        add(`w1.${this.#sensorName(problem.id)}.read_errors`, errors);
        // Log when a sensor goes bad or changes failure, not on every run while it stays bad.
        const level = this.#w1LastProblem.get(problem.id) === problem.reason ? "debug" : "warn";
        this.#w1LastProblem.set(problem.id, problem.reason);
        context.log[level]({ sensor: problem.id, reason: problem.reason }, "pi: 1-Wire reading skipped");
      }
    }
    return readings;
  }

  #sensorName(id: string): string {
    return sanitizeSegment(this.options.w1Names?.[id] ?? id);
  }
}
