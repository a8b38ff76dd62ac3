import type { Logger } from "pino";
import type { DurableQueue } from "../../queue/durable-queue.ts";
import type { LineSink } from "../ingest/ingest.ts";
import type { BackoffPolicy } from "./backoff.ts";
import { IntervalLog } from "../../runtime/log/interval-log.ts";
import { CarbonConnection } from "./carbon-connection.ts";
import type { CarbonAddress } from "./carbon-connection.ts";

export interface ForwarderOptions {
  readonly carbon: CarbonAddress;
  /** Persistent connections to Carbon (default 2). */
  readonly connections?: number;
  /** A connection with more than this many bytes not yet taken by the kernel counts as slow. */
  readonly highWaterBytes?: number;
  /** The disk spool for when Carbon is down or slow; without one, lines wait in memory. */
  readonly spool?: DurableQueue;
  /** The spool refuses new lines (503, forward_overflow) past this many bytes, rather than drop old ones. */
  readonly spoolMaxBytes?: number;
  /** Without a spool: how many bytes of lines may wait in memory for Carbon. */
  readonly memoryLimitBytes?: number;
  /** Replay from the spool at most this fast, so a returning carbon-cache is not flooded. */
  readonly replayLinesPerSecond?: number;
  /** Appended lines are fsynced within this long. */
  readonly spoolFlushMs?: number;
  readonly backoff?: BackoffPolicy;
  readonly log: Logger;
  /** Each kind of trouble (Carbon down, slow, the spool failing) is logged at most once per this long. */
  readonly logIntervalMs?: number;
}

export interface ForwarderStats {
  readonly connectionsUp: number;
  readonly connections: number;
  /** Lines in memory: waiting for the next write, being written, or (no spool) waiting for Carbon. */
  readonly queuedLines: number;
  readonly spoolDepth: number;
  readonly spoolBytes: number;
  readonly forwardedLines: number;
  readonly spooledLines: number;
  readonly replayedLines: number;
  /** Lines written again because Carbon closed the connection right after they were written to it. */
  readonly resentLines?: number;
  /** Accepted lines that were lost anyway, by why. */
  readonly dropped: ReadonlyMap<string, number>;
}

const REPLAY_TICK_MS = 100;

type Waiter = () => void;

/**
 * Writes accepted lines to Carbon over a few persistent connections, batching what arrives in one
 * turn of the event loop into one write. When no connection is up, or all are slow, lines go to
 * the spool, which is replayed in order at a capped rate once Carbon takes data again.
 */
export class Forwarder implements LineSink {
  private readonly connections: CarbonConnection[] = [];
  private readonly highWaterBytes: number;
  private readonly spoolMaxBytes: number;
  private readonly memoryLimitBytes: number;
  private readonly replayLinesPerSecond: number;
  private readonly spoolFlushMs: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  /** Appended to the spool, not yet flushed: the queue's byte count leaves them out. */
  private unflushedSpoolBytes = 0;
  private pendingWaiters: Waiter[] = [];
  private flushScheduled = false;
  private inFlightLines = 0;
  private inFlight = new Set<Promise<void>>();
  /** Without a spool: lines waiting for Carbon, oldest first. */
  private memoryBacklog: string[] = [];
  private memoryBacklogBytes = 0;
  private spoolWaiters: Waiter[] = [];
  private spoolFlushTimer: NodeJS.Timeout | undefined;
  private spoolFlushing: Promise<void> | undefined;
  /** The last spool flush failed; cleared by the next one that succeeds. */
  private spoolWriteFailed = false;
  private replaying: Promise<void> | undefined;
  private replayTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private forwardedLines = 0;
  private spooledLines = 0;
  private replayedLines = 0;
  private resentLines = 0;
  private readonly dropped = new Map<string, number>();
  private readonly trouble: IntervalLog;

  constructor(private readonly options: ForwarderOptions) {
    this.highWaterBytes = options.highWaterBytes ?? 4 * 1024 * 1024;
    this.spoolMaxBytes = options.spoolMaxBytes ?? 1024 * 1024 * 1024;
    this.memoryLimitBytes = options.memoryLimitBytes ?? 64 * 1024 * 1024;
    this.replayLinesPerSecond = options.replayLinesPerSecond ?? 10_000;
    this.spoolFlushMs = options.spoolFlushMs ?? 20;
    this.trouble = new IntervalLog(options.logIntervalMs);
    const carbon = `${options.carbon.host}:${options.carbon.port}`;
    const count = Math.max(1, options.connections ?? 2);
    for (let index = 0; index < count; index++) {
      const connection = new CarbonConnection(
        options.carbon,
        {
          onUp: () => {
            const gate = this.trouble.take("carbon_up");
            if (gate) {
              options.log.info(
                { carbon, connection: index, ...(gate.unlogged > 0 && { unlogged_since: gate.unlogged }) },
                "connected to Carbon",
              );
            }
            this.kickReplay();
          },
          onDown: (error, unread) => {
            if (unread.length > 0) this.resend(unread);
            const gate = this.trouble.take("carbon_down");
            if (!gate) return;
            options.log.warn(
              {
                carbon,
                connection: index,
                error: error?.message,
                connections_up: this.connections.filter((candidate) => candidate.isUp).length,
                ...(gate.unlogged > 0 && { unlogged_since: gate.unlogged }),
              },
              "Carbon connection down; spooling",
            );
          },
        },
        options.backoff,
      );
      this.connections.push(connection);
    }
  }

  start(): void {
    for (const connection of this.connections) connection.start();
  }

  accepting(): boolean {
    if (this.closing) return false;
    const spool = this.options.spool;
    if (spool) {
      // A spool whose writes fail (disk full, read-only) holds what it got in memory only: while that
      // lasts, lines that would go there are refused (503), so senders keep them instead.
      const unflushed = (spool.stats() as { unflushed?: number }).unflushed ?? 0;
      if (this.spoolWriteFailed && unflushed > 0 && !this.pickConnection(this.highWaterBytes)) return false;
      return spool.stats().bytes + this.unflushedSpoolBytes + this.pendingBytes < this.spoolMaxBytes;
    }
    return this.memoryBacklogBytes + this.pendingBytes < this.memoryLimitBytes;
  }

  send(lines: string[]): Promise<void> {
    return new Promise((resolve) => {
      for (const line of lines) {
        this.pending.push(line);
        this.pendingBytes += line.length;
      }
      this.pendingWaiters.push(resolve);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  stats(): ForwarderStats {
    const spool = this.options.spool?.stats();
    const dropped = new Map(this.dropped);
    if (spool?.droppedOverflow) dropped.set("spool_overflow", spool.droppedOverflow);
    if (spool?.droppedCorrupt) dropped.set("spool_corrupt", spool.droppedCorrupt);
    const unwritten = (spool as { droppedUnwritten?: number } | undefined)?.droppedUnwritten;
    if (unwritten) dropped.set("spool_unwritten", unwritten);
    return {
      connectionsUp: this.connections.filter((connection) => connection.isUp).length,
      connections: this.connections.length,
      queuedLines: this.pending.length + this.inFlightLines + this.memoryBacklog.length,
      spoolDepth: spool?.depth ?? 0,
      spoolBytes: spool?.bytes ?? 0,
      forwardedLines: this.forwardedLines,
      spooledLines: this.spooledLines,
      replayedLines: this.replayedLines,
      resentLines: this.resentLines,
      dropped,
    };
  }

  /** Writes what is in memory to Carbon, or else to the spool, then closes everything. */
  async close(timeoutMs = 5000): Promise<void> {
    this.closing = true;
    if (this.replayTimer) clearTimeout(this.replayTimer);
    this.flush();
    await Promise.all(this.inFlight);
    await this.replaying;
    if (this.memoryBacklog.length > 0) {
      this.drop("shutdown_without_spool", this.memoryBacklog.length);
      this.options.log.error(
        { lines: this.memoryBacklog.length },
        "exiting with lines for Carbon and no spool",
      );
    }
    await this.flushSpool();
    await Promise.all(this.connections.map((connection) => connection.close(timeoutMs)));
    await this.options.spool?.close();
  }

  private drop(reason: string, count: number): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + count);
  }

  /** Logs `message` unless the same kind of trouble was logged less than an interval ago. */
  private report(kind: string, fields: Record<string, unknown>, message: string): void {
    const gate = this.trouble.take(kind);
    if (!gate) return;
    this.options.log.error(
      { ...fields, ...(gate.unlogged > 0 && { unlogged_since: gate.unlogged }) },
      message,
    );
  }

  /** Lines Carbon may not have read before it closed the connection: to the spool (or memory) again. */
  private resend(chunks: readonly string[]): void {
    const lines = chunks.flatMap((chunk) =>
      chunk
        .split("\n")
        .slice(0, -1)
        .map((line) => `${line}\n`),
    );
    this.resentLines += lines.length;
    this.toSpool(lines, []);
  }

  private pickConnection(maxBufferedBytes: number): CarbonConnection | undefined {
    let best: CarbonConnection | undefined;
    for (const connection of this.connections) {
      if (!connection.isUp || connection.bufferedBytes >= maxBufferedBytes) continue;
      if (!best || connection.bufferedBytes < best.bufferedBytes) best = connection;
    }
    return best;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const lines = this.pending;
    const waiters = this.pendingWaiters;
    this.pending = [];
    this.pendingWaiters = [];
    this.pendingBytes = 0;
    const connection = this.pickConnection(this.highWaterBytes);
    if (!connection) {
      if (this.connections.some((candidate) => candidate.isUp)) {
        const gate = this.trouble.take("carbon_slow");
        if (gate) {
          this.options.log.warn(
            {
              carbon: `${this.options.carbon.host}:${this.options.carbon.port}`,
              unsent_bytes: this.connections.map((candidate) => candidate.bufferedBytes),
              ...(gate.unlogged > 0 && { unlogged_since: gate.unlogged }),
            },
            "Carbon is not reading fast enough; spooling",
          );
        }
      }
      this.toSpool(lines, waiters);
      return;
    }
    this.inFlightLines += lines.length;
    const written = new Promise<void>((resolve) => {
      connection.write(lines.join(""), (error) => {
        this.inFlightLines -= lines.length;
        if (error) this.toSpool(lines, waiters);
        else {
          this.forwardedLines += lines.length;
          for (const waiter of waiters) waiter();
        }
        resolve();
      });
    });
    this.inFlight.add(written);
    void written.then(() => this.inFlight.delete(written));
  }

  private toSpool(lines: string[], waiters: Waiter[]): void {
    const spool = this.options.spool;
    if (!spool) {
      for (const line of lines) {
        this.memoryBacklog.push(line);
        this.memoryBacklogBytes += line.length;
      }
      for (const waiter of waiters) waiter();
      this.kickReplay();
      return;
    }
    try {
      spool.append(lines.map((line) => line.slice(0, -1)));
      this.spooledLines += lines.length;
      for (const line of lines) this.unflushedSpoolBytes += line.length;
    } catch (error) {
      this.drop("spool_write_failed", lines.length);
      this.report(
        "spool_append",
        { lines: lines.length, error: (error as Error).message },
        "spool append failed",
      );
    }
    for (const waiter of waiters) this.spoolWaiters.push(waiter);
    if (this.closing) return;
    if (!this.spoolFlushTimer) {
      this.spoolFlushTimer = setTimeout(() => {
        this.spoolFlushTimer = undefined;
        void this.flushSpool().then(() => this.kickReplay());
      }, this.spoolFlushMs);
    }
  }

  private async flushSpool(): Promise<void> {
    const spool = this.options.spool;
    if (!spool) return;
    while (this.spoolFlushing) await this.spoolFlushing;
    const waiters = this.spoolWaiters;
    this.spoolWaiters = [];
    this.unflushedSpoolBytes = 0;
    this.spoolFlushing = spool.flush().then(
      () => {
        this.spoolWriteFailed = false;
      },
      (error: unknown) => {
        this.spoolWriteFailed = true;
        this.report("spool_flush", { error: (error as Error).message }, "spool flush failed");
      },
    );
    await this.spoolFlushing;
    this.spoolFlushing = undefined;
    for (const waiter of waiters) waiter();
  }

  private hasBacklog(): boolean {
    return this.memoryBacklog.length > 0 || (this.options.spool?.stats().depth ?? 0) > 0;
  }

  private kickReplay(): void {
    if (this.replaying || this.replayTimer || this.closing || !this.hasBacklog()) return;
    this.replaying = this.replayOnce().finally(() => {
      this.replaying = undefined;
    });
  }

  /** One tick's worth of backlog to Carbon; schedules the next tick while there is more. */
  private async replayOnce(): Promise<void> {
    const connection = this.pickConnection(this.highWaterBytes / 2);
    if (!connection) {
      // Retried when a connection comes up, or after a tick when they are only slow.
      if (this.connections.some((candidate) => candidate.isUp)) this.scheduleReplay(REPLAY_TICK_MS);
      return;
    }
    const started = Date.now();
    const maxLines = Math.max(1, Math.floor((this.replayLinesPerSecond * REPLAY_TICK_MS) / 1000));
    const ok = this.options.spool
      ? await this.replayFromSpool(this.options.spool, connection, maxLines)
      : await this.replayFromMemory(connection, maxLines);
    if (ok && this.hasBacklog()) this.scheduleReplay(Math.max(0, REPLAY_TICK_MS - (Date.now() - started)));
    else if (!ok) this.scheduleReplay(REPLAY_TICK_MS);
  }

  private scheduleReplay(delayMs: number): void {
    if (this.closing || this.replayTimer) return;
    this.replayTimer = setTimeout(() => {
      this.replayTimer = undefined;
      this.kickReplay();
    }, delayMs);
  }

  private async replayFromSpool(
    spool: DurableQueue,
    connection: CarbonConnection,
    maxLines: number,
  ): Promise<boolean> {
    let batch;
    try {
      batch = await spool.peek(maxLines, 4 * 1024 * 1024);
    } catch (error) {
      this.report("spool_read", { error: (error as Error).message }, "spool read failed");
      return false;
    }
    if (batch.records.length === 0) return true;
    const error = await writeChunk(connection, `${batch.records.join("\n")}\n`);
    if (error) return false;
    await spool.ack(batch);
    this.replayedLines += batch.records.length;
    return true;
  }

  private async replayFromMemory(connection: CarbonConnection, maxLines: number): Promise<boolean> {
    const lines = this.memoryBacklog.slice(0, maxLines);
    const error = await writeChunk(connection, lines.join(""));
    if (error) return false;
    this.memoryBacklog.splice(0, lines.length);
    for (const line of lines) this.memoryBacklogBytes -= line.length;
    this.replayedLines += lines.length;
    return true;
  }
}

function writeChunk(connection: CarbonConnection, chunk: string): Promise<Error | null | undefined> {
  return new Promise((resolve) => connection.write(chunk, resolve));
}
