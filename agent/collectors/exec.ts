import { runCommand } from "../../hardware/command.ts";
import type { CommandRunner } from "../../hardware/command.ts";
import { isValidValue } from "../../protocol/line.ts";
import type { Collector, CollectContext, Reading } from "./collector.ts";
import { sanitizeSegment } from "./metric-name.ts";

/**
 * Runs a command and reads `metric value [timestamp]` lines from its stdout, like Telegraf's exec
 * input or node_exporter's textfile collector. Blank lines and `#` comments are ignored.
 */
export interface ExecCollectorOptions {
  /** The entry's name: metrics land under `<prefix>.exec.<name>.`. */
  readonly name: string;
  /** argv; no shell. For shell syntax, say so: `["/bin/sh", "-c", "..."]`. */
  readonly command: readonly string[];
  readonly timeoutMs: number;
  readonly maxOutputBytes?: number;
  readonly env?: Readonly<Record<string, string>>;
  readonly run?: CommandRunner;
}

export interface ExecLineProblem {
  readonly line: number;
  readonly problem: string;
  /** The offending line, truncated. */
  readonly text: string;
}

export interface ParsedExecOutput {
  readonly readings: Reading[];
  readonly problems: ExecLineProblem[];
}

const RELATIVE_METRIC = /^[A-Za-z0-9_:-]+(?:\.[A-Za-z0-9_:-]+)*$/;
const TIMESTAMP = /^\d{1,16}$/;
/** A timestamp this far past the run's clock is a mistake (milliseconds, usually), not a reading. */
const MAX_FUTURE_SECONDS = 300;
const MAX_REPORTED_PROBLEMS = 10;

/** Parses the command's output. `nowSeconds` catches millisecond timestamps. Pure; never throws. */
export function parseExecOutput(stdout: string, nowSeconds: number): ParsedExecOutput {
  const readings: Reading[] = [];
  const problems: ExecLineProblem[] = [];
  const lines = stdout.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  lines.forEach((raw, index) => {
    const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const trimmed = text.trim();
    if (trimmed.length === 0 || trimmed.startsWith("#")) return;
    const report = (problem: string): void => {
      problems.push({
        line: index + 1,
        problem,
        text: trimmed.length > 80 ? `${trimmed.slice(0, 77)}...` : trimmed,
      });
    };
    const fields = trimmed.split(/\s+/);
    if (fields.length < 2 || fields.length > 3) {
      report(
        `expected "metric value [timestamp]", got ${fields.length} field${fields.length === 1 ? "" : "s"}`,
      );
      return;
    }
    const [metric, value, timestamp] = fields as [string, string, string | undefined];
    if (!RELATIVE_METRIC.test(metric)) {
      report("metric must be segments of [A-Za-z0-9_:-] joined by dots");
      return;
    }
    if (!isValidValue(value)) {
      report("value must be a finite decimal number");
      return;
    }
    if (timestamp === undefined) {
      readings.push({ name: metric, value: Number(value) });
      return;
    }
    if (!TIMESTAMP.test(timestamp)) {
      report("timestamp must be whole Unix seconds");
      return;
    }
    const seconds = Number(timestamp);
    if (seconds > nowSeconds + MAX_FUTURE_SECONDS) {
      report("timestamp is in the future (milliseconds instead of seconds?)");
      return;
    }
    readings.push({ name: metric, value: Number(value), timestamp: seconds });
  });
  return { readings, problems };
}

export class ExecCollector implements Collector {
  readonly name: string;
  readonly #run: CommandRunner;

  constructor(private readonly options: ExecCollectorOptions) {
    this.name = `exec.${sanitizeSegment(options.name)}`;
    this.#run = options.run ?? runCommand;
  }

  /**
   * A command that cannot start, times out or floods its output fails the run (and is counted by
   * the scheduler). A non-zero exit does not: its good lines are kept and the exit is logged.
   */
  async collect(context: CollectContext): Promise<Reading[]> {
    const { options } = this;
    const result = await this.#run(options.command, {
      timeoutMs: options.timeoutMs,
      signal: context.signal,
      maxOutputBytes: options.maxOutputBytes,
      env: options.env ? { ...process.env, ...options.env } : undefined,
    });
    const { readings, problems } = parseExecOutput(result.stdout, Math.floor(context.now / 1000));
    if (result.exitCode !== 0) {
      context.log.warn(
        {
          exec: options.name,
          exitCode: result.exitCode,
          signal: result.signal,
          stderr: result.stderr.trim().slice(-500),
          kept: readings.length,
        },
        "exec: command exited with an error; its good lines are kept",
      );
    }
    if (problems.length > 0) {
      context.log.warn(
        {
          exec: options.name,
          badLines: problems.length,
          problems: problems.slice(0, MAX_REPORTED_PROBLEMS),
          kept: readings.length,
        },
        "exec: bad lines skipped",
      );
    }
    return readings;
  }
}
