/**
 * A bounded, crash-safe FIFO of text records (one Carbon line each, without the newline).
 * The agent's disk buffer and the server's Carbon spool are both this contract; one contract test
 * (test/unit/queue/) runs against every implementation.
 *
 * Delivery is at-least-once: records handed out by `peek` stay in the queue until `ack`. After a
 * crash, records that were peeked but not acked are handed out again.
 */
export interface QueueBatch {
  /** Oldest first. */
  readonly records: readonly string[];
  /** Opaque position just after the last record of this batch; pass the batch back to `ack`. */
  readonly end: unknown;
}

export interface QueueStats {
  /** Records in the queue (appended, not yet acked). */
  readonly depth: number;
  /** Bytes those records take on disk, framing included (records not yet flushed count at their framed size). */
  readonly bytes: number;
  /** Records dropped because the queue was full (the oldest go first). */
  readonly droppedOverflow: number;
  /** Records lost to corruption found on open or read (torn tail, bad CRC). */
  readonly droppedCorrupt: number;
}

export interface DurableQueue {
  /** Adds records at the tail. Durable once the next flush completes (flushes are batched). */
  append(records: readonly string[]): void;
  /** Writes and fsyncs whatever append has buffered. */
  flush(): Promise<void>;
  /**
   * The oldest records not yet acked (flushed or not), up to the limits; an empty batch when the
   * queue is empty. maxBytes counts each record's UTF-8 bytes plus one for its newline on the wire;
   * the oldest record is returned even when it alone is over maxBytes, so a batch is never stuck.
   */
  peek(maxRecords: number, maxBytes?: number): Promise<QueueBatch>;
  /**
   * Removes everything up to the batch's end; once it resolves, those records do not come back
   * after a restart (a DiskQueue with ackPersistIntervalMs: once the next timed persist is done). Acking a batch again, or an older one after a newer one, is a no-op. A batch
   * belongs to the queue object that peeked it; passing it to another (say, after a reopen) is an error.
   */
  ack(batch: QueueBatch): Promise<void>;
  stats(): QueueStats;
  /** Flushes and releases file handles. */
  close(): Promise<void>;
}
