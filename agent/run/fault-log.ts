import { DEFAULT_LOG_INTERVAL_MS, IntervalLog } from "../../runtime/log/interval-log.ts";

/** The subset of a pino logger a FaultLog writes to. */
export interface FaultLogSink {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export const DEFAULT_FAULT_LOG_INTERVAL_MS = DEFAULT_LOG_INTERVAL_MS;

/** Distinct faults of one kind remembered at once; past it the one logged longest ago is forgotten. */
const MAX_FAULTS = 64;

export interface FaultLogOptions {
  readonly log: FaultLogSink;
  /** A fault that keeps happening is logged at most once per this many milliseconds. */
  readonly intervalMs?: number;
  /** Milliseconds, monotonic or wall: only differences are used. */
  readonly now?: () => number;
}

/**
 * Faults that repeat (a server that cannot be reached, a disk that refuses writes) are logged once
 * per interval, not once per attempt: a journal on an SD card must not fill with the same line every
 * second. The first occurrence is logged at once; while it keeps happening, at most one line per
 * interval says how many times it happened since the last one (`occurrences`); `clear` says once
 * that it is over and how often it happened in all.
 *
 * A fault is its kind ("ship", "buffer") plus its message with what varies from one occurrence to
 * the next taken out (see sameFaultText), so "writing 3 record(s) failed: EROFS: …, open 'a.seg'"
 * and "writing 7 record(s) failed: EROFS: …, write 'b.seg'" are one fault, and a different error (a
 * name that does not resolve, then a certificate that is not trusted) is logged at once as a new one.
 */
export class FaultLog {
  private readonly log: FaultLogSink;
  private readonly intervalMs: number;
  private readonly now: () => number;
  /** The once-per-interval gate of each kind, keyed by the fault's text (sameFaultText). */
  private readonly gates = new Map<string, IntervalLog>();
  private readonly totals = new Map<string, number>();

  constructor(options: FaultLogOptions) {
    this.log = options.log;
    this.intervalMs = Math.max(0, options.intervalMs ?? DEFAULT_FAULT_LOG_INTERVAL_MS);
    this.now = options.now ?? Date.now;
  }

  /** One occurrence of a fault: logged now, or counted until its interval is over. */
  report(kind: string, message: string, details: object = {}): void {
    this.totals.set(kind, (this.totals.get(kind) ?? 0) + 1);
    let gate = this.gates.get(kind);
    if (gate === undefined) {
      gate = new IntervalLog(this.intervalMs, this.now, MAX_FAULTS);
      this.gates.set(kind, gate);
    }
    const due = gate.take(sameFaultText(message));
    if (due === undefined) return;
    this.log.warn({ fault: kind, occurrences: due.unlogged + 1, ...details }, message);
  }

  /** The faults of `kind` are over: says so once (with how many there were), if any was reported. */
  clear(kind: string, message: string, details: object = {}): void {
    const total = this.totals.get(kind);
    if (total === undefined) return;
    this.totals.delete(kind);
    this.gates.delete(kind);
    this.log.info({ fault: kind, occurrences: total, ...details }, message);
  }

  /** Whether a fault of `kind` was reported and not cleared since. */
  active(kind: string): boolean {
    return this.totals.has(kind);
  }
}

/**
 * A message reduced to what stays the same while the fault lasts: quoted paths out, a node errno
 * message ("EROFS: read-only file system, write '…'") down to its code, numbers out.
 */
export function sameFaultText(message: string): string {
  return message
    .replace(/(^|\s)(?:'[^']*'|"[^"]*")/g, "$1''")
    .replace(/\b(E[A-Z]{2,}): [^:;()]*/g, "$1")
    .replace(/\d+/g, "#");
}
