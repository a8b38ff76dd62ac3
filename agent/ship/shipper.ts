import type { DurableQueue, QueueBatch } from "../../queue/durable-queue.ts";
import { SHIP_STATUS_VERSION } from "../status/ship-status.ts";
import type { ShipStatus } from "../status/ship-status.ts";
import type { SendOutcome, Transport } from "../transports/transport.ts";
import { FaultLog } from "../run/fault-log.ts";
import { DEFAULT_BACKOFF, retryDelay } from "./backoff.ts";
import type { BackoffPolicy } from "./backoff.ts";
import { CatchUpTracker } from "./catch-up.ts";
import { systemClock } from "./clock.ts";
import type { ShipperClock } from "./clock.ts";
import { LinePacer } from "./line-pacer.ts";

/** The server's default per-key rate (auth file `rate`). */
export const DEFAULT_LINES_PER_SECOND = 50;
/** Keep this at or under the server's per-key `burst` (default 2000): a larger batch can never pass. */
export const DEFAULT_MAX_BATCH_LINES = 500;
export const DEFAULT_MAX_BATCH_BYTES = 256 * 1024;
export const DEFAULT_IDLE_POLL_MS = 2_000;
export const DEFAULT_FATAL_PAUSE_MS = 10 * 60_000;

/** The subset of a pino logger the shipper uses. */
export interface ShipperLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

const SILENT_LOG: ShipperLog = { info() {}, warn() {} };

/** FaultLog kinds: a batch that could not go, and lines the server refused for good. */
const SHIP_FAULT = "ship";
const REFUSED_FAULT = "refused";

/** The server already had these lines (a batch sent again): counted apart, since nothing was lost. */
const DUPLICATE = "duplicate";

export interface ShipperOptions {
  readonly queue: DurableQueue;
  readonly transport: Transport;
  /** The rate the server allows this device's key, lines per second (default 50). */
  readonly linesPerSecond?: number;
  readonly maxBatchLines?: number;
  readonly maxBatchBytes?: number;
  /** With nothing to send, how often to look again; `wake()` cuts the wait short (default 2 s). */
  readonly idlePollMs?: number;
  /** After a "fatal" refusal (wrong URL, 401, untrusted certificate), how long to wait (default 10 min). */
  readonly fatalPauseMs?: number;
  readonly backoff?: BackoffPolicy;
  readonly clock?: ShipperClock;
  readonly random?: () => number;
  readonly log?: ShipperLog;
  /** A failure that keeps happening is logged at most once per this long (default 1 min). */
  readonly faultLogIntervalMs?: number;
  /** The device's key id, shown by `homeward status`. */
  readonly device?: string;
}

/**
 * The shipping loop: peek the oldest batch in the buffer, send it, and ack it only once the outcome
 * says the server decided every line. Oldest first, at most `linesPerSecond`; failures back off
 * with full jitter (or as long as Retry-After says). One batch in flight at a time, so the order in
 * the buffer is the order on the wire.
 */
export class Shipper {
  private readonly queue: DurableQueue;
  private readonly transport: Transport;
  private readonly clock: ShipperClock;
  private readonly random: () => number;
  private readonly log: ShipperLog;
  /** Failed attempts and refused lines: logged once per interval, not once per batch. */
  private readonly faults: FaultLog;
  private readonly backoff: BackoffPolicy;
  private readonly linesPerSecond: number;
  private readonly maxBatchBytes: number;
  private readonly idlePollMs: number;
  private readonly fatalPauseMs: number;
  private readonly device: string | null;
  private readonly pacer: LinePacer;
  private readonly catchUp: CatchUpTracker;
  private readonly startedAt: number;

  private readonly maxBatchLines: number;
  /** Halved when the server says a batch is too large (413); stays so until restart. */
  private sizeLimit: number;
  /** Halved when the server throttles us (429); doubles back with each delivered batch. */
  private throttleLimit: number;
  private failedAttempts = 0;
  private stopController = new AbortController();
  private idleController: AbortController | undefined;
  private woken = false;
  /** Waiting for the rate cap before sending a batch. */
  private pacing = false;
  private running: Promise<void> | undefined;

  private lastShipAt: number | null = null;
  private lastError: { message: string; at: number } | null = null;
  private shipErrors = 0;
  private shippedLines = 0;
  private duplicates = 0;
  private readonly droppedByReason: Record<string, number> = {};
  private oldestReadingAt: number | null = null;
  private nextAttemptAt: number | null = null;

  constructor(options: ShipperOptions) {
    this.queue = options.queue;
    this.transport = options.transport;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.log = options.log ?? SILENT_LOG;
    this.faults = new FaultLog({
      log: this.log,
      now: () => this.clock.now(),
      ...(options.faultLogIntervalMs !== undefined && { intervalMs: options.faultLogIntervalMs }),
    });
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.linesPerSecond = options.linesPerSecond ?? DEFAULT_LINES_PER_SECOND;
    if (!Number.isFinite(this.linesPerSecond) || this.linesPerSecond <= 0) {
      throw new RangeError(`lines per second must be a number above 0, got ${this.linesPerSecond}`);
    }
    this.maxBatchLines = Math.max(1, Math.floor(options.maxBatchLines ?? DEFAULT_MAX_BATCH_LINES));
    this.sizeLimit = this.maxBatchLines;
    this.throttleLimit = this.maxBatchLines;
    this.maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    this.idlePollMs = options.idlePollMs ?? DEFAULT_IDLE_POLL_MS;
    this.fatalPauseMs = options.fatalPauseMs ?? DEFAULT_FATAL_PAUSE_MS;
    this.device = options.device ?? null;
    this.startedAt = this.clock.now();
    this.pacer = new LinePacer(this.linesPerSecond, this.maxBatchLines, this.startedAt);
    this.catchUp = new CatchUpTracker(this.maxBatchLines);
  }

  start(): void {
    if (this.running !== undefined) return;
    this.stopController = new AbortController();
    this.running = this.loop();
  }

  /** Stops after the batch in flight (if any) is settled: acked when delivered, kept otherwise. */
  async stop(): Promise<void> {
    this.stopController.abort();
    await this.running;
    this.running = undefined;
  }

  /**
   * New lines are in the buffer: stop idling and look now. While the server is reachable they are
   * sent and acked within milliseconds, before the buffer's timed flush would write them (so they
   * never cost an SD-card write). While they cannot go at once (backing off after a failure, or
   * held back by the rate cap while catching up) they are written now, not at the next timed
   * flush: a kill -9 or a power cut then loses no reading the agent has taken.
   */
  wake(): void {
    this.woken = true;
    this.idleController?.abort();
    if (this.failedAttempts > 0 || this.pacing) this.flushQuietly();
  }

  status(): ShipStatus {
    const stats = this.queue.stats();
    return {
      version: SHIP_STATUS_VERSION,
      pid: process.pid,
      device: this.device,
      target: this.transport.target,
      host: this.transport.host,
      startedAt: this.startedAt,
      updatedAt: this.clock.now(),
      lastShipAt: this.lastShipAt,
      lastError: this.lastError,
      shipErrors: this.shipErrors,
      shippedLines: this.shippedLines,
      droppedByReason: { ...this.droppedByReason },
      duplicates: this.duplicates,
      buffer: {
        depth: stats.depth,
        bytes: stats.bytes,
        droppedOverflow: stats.droppedOverflow,
        droppedCorrupt: stats.droppedCorrupt,
      },
      oldestReadingAt: stats.depth === 0 ? null : this.oldestReadingAt,
      nextAttemptAt: this.nextAttemptAt,
      linesPerSecond: this.linesPerSecond,
      catchUp: this.catchUp.progress(this.linesPerSecond),
    };
  }

  private get batchLines(): number {
    return Math.min(this.sizeLimit, this.throttleLimit);
  }

  private get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const batch = await this.nextBatch();
      if (batch === undefined) continue;
      if (batch.records.length === 0) {
        await this.idle();
        continue;
      }
      const waitMs = this.pacer.waitMs(batch.records.length, this.clock.now());
      if (waitMs > 0) {
        this.pacing = true;
        this.flushQuietly();
        await this.clock.sleep(waitMs, this.stopController.signal);
        this.pacing = false;
        if (this.stopping) break;
      }
      await this.settle(batch, await this.send(batch.records));
    }
  }

  private async nextBatch(): Promise<QueueBatch | undefined> {
    let batch: QueueBatch;
    try {
      batch = await this.queue.peek(this.batchLines, this.maxBatchBytes);
    } catch (error) {
      await this.failed(`could not read the buffer (${messageOf(error)})`, undefined);
      return undefined;
    }
    // The batch's first line is the oldest one waiting: no separate peek needed for its age.
    this.oldestReadingAt = batch.records.length === 0 ? null : timestampMsOf(batch.records[0] ?? "");
    return batch;
  }

  private async send(lines: readonly string[]): Promise<SendOutcome> {
    try {
      return await this.transport.send(lines);
    } catch (error) {
      return { kind: "retry", why: `sending failed (${messageOf(error)})` };
    }
  }

  private async settle(batch: QueueBatch, outcome: SendOutcome): Promise<void> {
    const count = batch.records.length;
    switch (outcome.kind) {
      case "delivered":
        await this.delivered(batch, outcome);
        return;
      case "too_large":
        if (count > 1) {
          this.sizeLimit = Math.max(1, Math.floor(count / 2));
          this.log.warn(
            { batchLines: this.sizeLimit },
            `${outcome.why}; sending at most ${this.sizeLimit} lines per batch from now on`,
          );
          return;
        }
        await this.failed(`${outcome.why}; even one line is too large for the server`, this.fatalPauseMs);
        return;
      case "retry": {
        let delayMs = retryDelay(this.failedAttempts + 1, outcome.afterMs, this.backoff, this.random);
        if (outcome.throttled === true) {
          // Part of the batch may have been taken and will spend the key's rate again as
          // duplicates: smaller batches, and time for the server's bucket to refill, make sure each
          // round gets further than the last.
          this.throttleLimit = Math.max(1, Math.floor(count / 2));
          delayMs = Math.max(delayMs, Math.ceil((count * 1000) / this.linesPerSecond));
        }
        await this.failed(outcome.why, delayMs);
        return;
      }
      case "fatal":
        await this.failed(outcome.why, this.fatalPauseMs);
        return;
    }
  }

  private async delivered(
    batch: QueueBatch,
    outcome: Extract<SendOutcome, { kind: "delivered" }>,
  ): Promise<void> {
    const depthBefore = this.queue.stats().depth;
    try {
      await this.queue.ack(batch);
    } catch (error) {
      // The server has the lines; they will go again and come back as duplicates.
      await this.failed(`could not update the buffer (${messageOf(error)})`, undefined);
      return;
    }
    const now = this.clock.now();
    this.pacer.take(batch.records.length, now);
    this.throttleLimit = Math.min(this.maxBatchLines, this.throttleLimit * 2);
    if (this.failedAttempts > 0) {
      this.faults.clear(SHIP_FAULT, `sending again after ${this.failedAttempts} failed attempt(s)`, {
        target: this.transport.target,
      });
    }
    this.failedAttempts = 0;
    this.lastShipAt = now;
    this.shippedLines += outcome.accepted;
    let dropped = 0;
    for (const [reason, count] of Object.entries(outcome.rejected)) {
      if (reason === DUPLICATE) {
        this.duplicates += count;
        continue;
      }
      this.droppedByReason[reason] = (this.droppedByReason[reason] ?? 0) + count;
      dropped += count;
    }
    if (dropped > 0) {
      this.faults.report(
        REFUSED_FAULT,
        `the server refused ${dropped} of ${batch.records.length} lines for good; they are dropped`,
        { rejected: outcome.rejected, samples: outcome.samples ?? [] },
      );
    }
    const depthAfter = this.queue.stats().depth;
    const wasCatchingUp = this.catchUp.progress(this.linesPerSecond) !== null;
    this.catchUp.delivered(depthBefore, depthAfter, now);
    const progress = this.catchUp.progress(this.linesPerSecond);
    if (!wasCatchingUp && progress !== null) {
      this.log.info(
        { backlog: progress.backlogAtStart },
        `catching up: ${progress.backlogAtStart} lines waiting`,
      );
    } else if (wasCatchingUp && progress === null) {
      this.log.info({}, "caught up");
    }
  }

  /** Records a failed attempt and waits: `delayMs` undefined means the usual backoff. */
  private async failed(why: string, delayMs: number | undefined): Promise<void> {
    // The lines that could not go wait on disk, not in memory (see wake()).
    this.flushQuietly();
    this.failedAttempts++;
    this.shipErrors++;
    const now = this.clock.now();
    this.lastError = { message: why, at: now };
    this.catchUp.failed();
    const waitMs = delayMs ?? retryDelay(this.failedAttempts, undefined, this.backoff, this.random);
    this.faults.report(SHIP_FAULT, why, {
      target: this.transport.target,
      attempt: this.failedAttempts,
      retryInMs: waitMs,
    });
    this.nextAttemptAt = now + waitMs;
    await this.clock.sleep(waitMs, this.stopController.signal);
    this.nextAttemptAt = null;
  }

  /** A failed write is the queue's to report (onProblem) and retry; the shipper only asks for it. */
  private flushQuietly(): void {
    this.queue.flush().catch(() => undefined);
  }

  private async idle(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return;
    }
    const controller = new AbortController();
    this.idleController = controller;
    await this.clock.sleep(this.idlePollMs, AbortSignal.any([controller.signal, this.stopController.signal]));
    this.idleController = undefined;
    this.woken = false;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A signed line's timestamp (third field, Unix seconds) in milliseconds; null if it has none. */
function timestampMsOf(line: string): number | null {
  const field = line.split(" ", 3)[2];
  return field !== undefined && /^\d{1,15}$/.test(field) ? Number(field) * 1000 : null;
}
