import type { Clock, Timer } from "../../../agent/clock/clock.ts";
import type { Logger } from "../../../agent/collectors/collector.ts";
import type { CommandOptions, CommandResult, CommandRunner } from "../../../hardware/command.ts";
import { CommandError } from "../../../hardware/command.ts";

export const FIXTURES = new URL("../../fixtures/hosts/", import.meta.url).pathname;

/** Lets pending promise callbacks and I/O callbacks run. */
export async function settle(rounds = 5): Promise<void> {
  for (let round = 0; round < rounds; round++) await new Promise((resolve) => setImmediate(resolve));
}

interface PendingTimer {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A clock for tests: time moves only when `advance` says, firing due timers in order with
 * promises settled between them. `stepWall` moves the wall clock alone, as an NTP step does.
 */
export class FakeClock implements Clock {
  #wall: number;
  #mono: number;
  #timers: PendingTimer[] = [];
  #seq = 0;

  constructor(wallStartMs: number, monoStartMs = 1_000_000) {
    this.#wall = wallStartMs;
    this.#mono = monoStartMs;
  }

  wallNow(): number {
    return this.#wall;
  }

  monoNow(): number {
    return this.#mono;
  }

  setTimer(callback: () => void, ms: number): Timer {
    const timer: PendingTimer = {
      at: this.#mono + Math.max(0, ms),
      seq: this.#seq++,
      callback,
      cancelled: false,
    };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  get pendingTimers(): number {
    return this.#timers.filter((timer) => !timer.cancelled).length;
  }

  stepWall(ms: number): void {
    this.#wall += ms;
  }

  async advance(ms: number): Promise<void> {
    const target = this.#mono + ms;
    for (;;) {
      await settle();
      this.#timers = this.#timers.filter((timer) => !timer.cancelled);
      const due = this.#timers
        .filter((timer) => timer.at <= target)
        .sort((left, right) => left.at - right.at || left.seq - right.seq)[0];
      if (!due) break;
      this.#moveTo(due.at);
      this.#timers = this.#timers.filter((timer) => timer !== due);
      due.callback();
    }
    this.#moveTo(target);
    await settle();
  }

  #moveTo(mono: number): void {
    this.#wall += mono - this.#mono;
    this.#mono = mono;
  }
}

export interface LogEntry {
  readonly level: "debug" | "info" | "warn" | "error";
  readonly fields: Record<string, unknown>;
  readonly message: string | undefined;
}

export class RecordingLogger implements Logger {
  readonly entries: LogEntry[] = [];
  debug(fields: object, message?: string): void {
    this.entries.push({ level: "debug", fields: fields as Record<string, unknown>, message });
  }
  info(fields: object, message?: string): void {
    this.entries.push({ level: "info", fields: fields as Record<string, unknown>, message });
  }
  warn(fields: object, message?: string): void {
    this.entries.push({ level: "warn", fields: fields as Record<string, unknown>, message });
  }
  error(fields: object, message?: string): void {
    this.entries.push({ level: "error", fields: fields as Record<string, unknown>, message });
  }
  at(level: LogEntry["level"]): LogEntry[] {
    return this.entries.filter((entry) => entry.level === level);
  }
}

/** A CommandRunner answering from a table keyed by the argv joined with spaces; anything else is "not found". */
export function cannedRunner(
  answers: Record<string, Partial<CommandResult> | CommandError>,
  calls: string[] = [],
): CommandRunner {
  return async (argv: readonly string[], _options: CommandOptions) => {
    const key = argv.join(" ");
    calls.push(key);
    const answer = answers[key];
    if (answer === undefined) throw new CommandError("not_found", argv[0] ?? "", `${argv[0]}: not found`);
    if (answer instanceof CommandError) throw answer;
    return { exitCode: 0, signal: null, stdout: "", stderr: "", ...answer };
  };
}
