import type { AgentConfig } from "../config/types.ts";
import { closeBrokerClient, openBrokerClient, subscribeAgain } from "../control/broker-client.ts";
import type { MqttClient } from "../control/broker-client.ts";
import { resolveBroker } from "../control/settings.ts";
import type { BrokerSettings } from "../control/settings.ts";
import type { BackoffPolicy } from "../ship/backoff.ts";
import type { Collector, CollectContext, Logger, Reading } from "./collector.ts";
import { sanitizeSegment } from "./metric-name.ts";

/**
 * MQTT sensor input: subscribes to topics on the home's own broker (Tasmota `tele/+/SENSOR`,
 * Zigbee2MQTT `zigbee2mqtt/+`, anything publishing numbers) and turns numeric fields into readings.
 *
 * Push-based, unlike the other collectors: messages arrive whenever sensors send them. The
 * collector keeps the latest value of each metric, stamped with the time it arrived, and each run
 * hands over what arrived since the previous run, once. A sensor reporting every 5 minutes gives a
 * point every 5 minutes whatever the schedule; one reporting every second is thinned to one point
 * per metric per run (the latest).
 */

export const MQTT_INPUT_DEFAULTS = {
  schedule: "*/10 * * * * *",
  /** Distinct metrics kept between two runs; a `#` subscription on a busy broker must not eat memory. */
  maxSeries: 2_000,
  /** Depth of JSON objects walked for `fields: "all"`. */
  maxDepth: 8,
} as const;

export interface MqttRule {
  /** A topic filter: `tele/+/SENSOR`, `zigbee2mqtt/+`, `home/#`. */
  readonly topic: string;
  /** Dotted metric path before the wildcard segments; may be empty. */
  readonly name: string;
  /** Every numeric (and boolean) field, or these dotted JSON paths with the metric path each becomes. */
  readonly fields: "all" | ReadonlyMap<string, string>;
}

export interface MqttInputSettings {
  readonly broker: BrokerSettings;
  readonly schedule: string;
  readonly rules: readonly MqttRule[];
}

/** The `mqtt` section, resolved; undefined when it is absent or disabled. The config must be valid. */
export function mqttInputSettings(config: AgentConfig): MqttInputSettings | undefined {
  const section = config.mqtt;
  if (section.url === undefined || section.subscriptions === undefined || section.enabled === false) {
    return undefined;
  }
  return {
    broker: resolveBroker({ ...section, url: section.url }, `homeward-${config.device}-input`),
    schedule: section.schedule ?? MQTT_INPUT_DEFAULTS.schedule,
    rules: section.subscriptions.map((entry) => ({
      topic: entry.topic,
      name: entry.name ?? defaultRuleName(entry.topic),
      fields:
        entry.fields === undefined || entry.fields === "all"
          ? "all"
          : Array.isArray(entry.fields)
            ? new Map(entry.fields.map((path) => [path, path]))
            : new Map(Object.entries(entry.fields)),
    })),
  };
}

/** The filter's first level when it is literal (`tele/+/SENSOR` → `tele`), else nothing. */
function defaultRuleName(filter: string): string {
  const first = filter.split("/")[0] ?? "";
  return first === "+" || first === "#" || first === "" ? "" : sanitizeSegment(first);
}

/**
 * The levels a filter's wildcards matched (`tele/+/SENSOR` on `tele/kitchen/SENSOR` → `["kitchen"]`,
 * `home/#` on `home/a/b` → `["a", "b"]`), or undefined when the topic does not match.
 */
export function matchTopic(filter: string, topic: string): string[] | undefined {
  const wanted = filter.split("/");
  const levels = topic.split("/");
  const captured: string[] = [];
  for (let index = 0; index < wanted.length; index++) {
    const level = wanted[index] as string;
    if (level === "#") {
      // `$SYS/...` topics never match a filter starting with a wildcard.
      if (index === 0 && topic.startsWith("$")) return undefined;
      captured.push(...levels.slice(index));
      return captured;
    }
    const actual = levels[index];
    if (actual === undefined) return undefined;
    if (level === "+") {
      if (index === 0 && actual.startsWith("$")) return undefined;
      captured.push(actual);
    } else if (level !== actual) {
      return undefined;
    }
  }
  return levels.length === wanted.length ? captured : undefined;
}

/** What a payload holds: a JSON object's numeric leaves by dotted path, or one plain value. */
export function numericLeaves(
  payload: string,
  maxDepth: number = MQTT_INPUT_DEFAULTS.maxDepth,
): Map<string, number> {
  const leaves = new Map<string, number>();
  const text = payload.trim();
  const plain = plainValue(text);
  if (plain !== undefined) {
    leaves.set("", plain);
    return leaves;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return leaves;
  }
  const walk = (value: unknown, path: string, depth: number): void => {
    const leaf = leafValue(value);
    if (leaf !== undefined) {
      leaves.set(path, leaf);
      return;
    }
    if (depth >= maxDepth || value === null || typeof value !== "object") return;
    const entries = Array.isArray(value)
      ? value.map((item, index) => [String(index), item] as const)
      : Object.entries(value);
    for (const [key, child] of entries) walk(child, path === "" ? key : `${path}.${key}`, depth + 1);
  };
  walk(data, "", 0);
  return leaves;
}

/** `21.5`, `ON`/`OFF`, `true`/`false` as a whole payload. */
function plainValue(text: string): number | undefined {
  if (/^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(text)) {
    const value = Number(text);
    return Number.isFinite(value) ? value : undefined;
  }
  const word = text.toLowerCase();
  if (word === "on" || word === "true") return 1;
  if (word === "off" || word === "false") return 0;
  return undefined;
}

function leafValue(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value === "boolean") return value ? 1 : 0;
  return undefined;
}

/** A dotted JSON path as metric segments: `AM2301.Temperature` → `AM2301.Temperature`, sanitized per segment. */
function pathSegments(path: string): string[] {
  return path === "" ? [] : path.split(".").map(sanitizeSegment);
}

/**
 * The readings one message makes under one rule, names relative to `<prefix>.mqtt`:
 * `<rule name>.<wildcard levels>.<field path>`. Pure.
 */
export function readingsFromMessage(rule: MqttRule, captured: readonly string[], payload: string): Reading[] {
  const base = [...pathSegments(rule.name), ...captured.map(sanitizeSegment)];
  const readings: Reading[] = [];
  const leaves = numericLeaves(payload);
  const emit = (segments: string[], value: number): void => {
    const name = segments.length > 0 ? segments.join(".") : "value";
    readings.push({ name, value });
  };
  const plain = leaves.get("");
  if (plain !== undefined) {
    emit(base, plain);
    return readings;
  }
  if (rule.fields === "all") {
    for (const [path, value] of leaves) emit([...base, ...pathSegments(path)], value);
    return readings;
  }
  for (const [path, metric] of rule.fields) {
    const value = leaves.get(path);
    if (value !== undefined) emit([...base, ...pathSegments(metric)], value);
  }
  return readings;
}

export interface MqttCollectorOptions {
  readonly settings: MqttInputSettings;
  /** Wall-clock ms; a reading is stamped with its arrival. */
  readonly now?: () => number;
  readonly reconnect?: BackoffPolicy;
  readonly maxSeries?: number;
}

export class MqttCollector implements Collector {
  readonly name = "mqtt";
  readonly #options: MqttCollectorOptions;
  readonly #now: () => number;
  readonly #maxSeries: number;
  /** metric → latest value and arrival (ms), since the last run. */
  #latest = new Map<string, { value: number; atMs: number }>();
  #client: Promise<MqttClient> | undefined;
  #closed = false;
  #droppedSeries = 0;
  #log: Logger | undefined;

  constructor(options: MqttCollectorOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#maxSeries = options.maxSeries ?? MQTT_INPUT_DEFAULTS.maxSeries;
  }

  /** Connects and subscribes; the first run does it if nobody did. Resolves once the client exists. */
  async start(log?: Logger): Promise<MqttClient> {
    if (log !== undefined) this.#log ??= log;
    this.#client ??= this.#open();
    return this.#client;
  }

  async collect(context: CollectContext): Promise<Reading[]> {
    if (this.#client === undefined) {
      // The connection outlives this run; a failure to open it (an unreadable CA file) fails the run.
      await this.start(context.log);
    }
    const latest = this.#latest;
    this.#latest = new Map();
    if (this.#droppedSeries > 0) {
      context.log.warn(
        { dropped: this.#droppedSeries, max_series: this.#maxSeries },
        "mqtt: more distinct metrics than kept between runs; narrow the subscriptions",
      );
      this.#droppedSeries = 0;
    }
    return [...latest].map(([name, { value, atMs }]) => ({
      name,
      value,
      timestamp: Math.floor(atMs / 1000),
    }));
  }

  close(): void {
    this.#closed = true;
    const pending = this.#client;
    this.#client = undefined;
    void pending?.then((client) => closeBrokerClient(client)).catch(() => undefined);
  }

  async #open(): Promise<MqttClient> {
    const { settings } = this.#options;
    const client = await openBrokerClient({
      broker: settings.broker,
      role: "mqtt input",
      ...(this.#options.reconnect && { reconnect: this.#options.reconnect }),
      ...(this.#log && { log: this.#log }),
    });
    if (this.#closed) {
      await closeBrokerClient(client);
      return client;
    }
    const filters = [...new Set(settings.rules.map((rule) => rule.topic))];
    client.on("connect", () =>
      subscribeAgain(client, filters, 0, (error) =>
        this.#log?.error({ topics: filters, error: error.message }, "mqtt: cannot subscribe"),
      ),
    );
    client.on("message", (topic, payload) => this.#take(topic, payload));
    return client;
  }

  #take(topic: string, payload: Buffer): void {
    const atMs = this.#now();
    const text = payload.toString("utf8");
    for (const rule of this.#options.settings.rules) {
      const captured = matchTopic(rule.topic, topic);
      if (captured === undefined) continue;
      for (const reading of readingsFromMessage(rule, captured, text)) {
        if (!this.#latest.has(reading.name) && this.#latest.size >= this.#maxSeries) {
          this.#droppedSeries++;
          continue;
        }
        this.#latest.set(reading.name, { value: reading.value, atMs });
      }
    }
  }
}
