import type { SignedLine } from "../../protocol/line.ts";
import type { RejectReason } from "../../protocol/reasons.ts";

/**
 * What the status page knows about each device (key id), filled by one call per decided line.
 * Every call is O(1): a map lookup, a bucket increment, a ring write. Memory is bounded: keys in the
 * auth file get a row each; key ids that are not in it share at most `maxUnknownKeys` rows (the
 * least recently seen goes first), so a client making up key ids cannot grow it.
 */

/** The part of a decided line the board reads (checks/pipeline.ts's LineContext fits). */
export interface DecidedLine {
  readonly nowMs: number;
  /** Present once the line parsed. */
  readonly line?: SignedLine;
  /** Present when the key id is in the auth file (enabled or disabled). */
  readonly entry?: { readonly keyId: string };
}

export type DeviceState = "active" | "disabled" | "not_in_auth_file" | "unidentified";

export interface DeviceStatus {
  readonly keyId: string;
  readonly state: DeviceState;
  readonly lastSeenMs?: number;
  readonly lastAcceptedMs?: number;
  readonly accepted: number;
  readonly rejected: ReadonlyMap<RejectReason, number>;
  readonly rejectedTotal: number;
  /** Over the last minute. */
  readonly acceptedPerMinute: number;
  readonly rejectedPerMinute: number;
  /** Server time − line timestamp, in seconds, over the most recent accepted lines. */
  readonly skew?: {
    readonly median: number;
    readonly min: number;
    readonly max: number;
    readonly samples: number;
  };
  /** The agent's own report of its disk buffer (`self.buffer.depth`, `self.buffer.oldest_age_s`). */
  readonly buffer?: {
    readonly depth: number;
    readonly oldestAgeSeconds?: number;
    readonly timestamp: number;
  };
}

/** Rows for lines whose key id could not be read (they did not parse, or their source was blocked). */
export const UNIDENTIFIED = "(unidentified)";
/** Where the counts of the least recently seen unknown key ids go once `maxUnknownKeys` rows are in use. */
export const OTHER_UNKNOWN = "(other unknown keys)";

const BUCKET_MS = 5_000;
const BUCKETS = 12;
export const SKEW_SAMPLES = 32;
const BUFFER_DEPTH = "self.buffer.depth";
const BUFFER_OLDEST = "self.buffer.oldest_age_s";

/** Lines per minute as twelve 5-second buckets, cleared lazily when a bucket's turn comes again. */
class MinuteCounter {
  private readonly counts = new Uint32Array(BUCKETS);
  private readonly epochs = new Float64Array(BUCKETS).fill(-1);

  add(nowMs: number): void {
    const epoch = Math.floor(nowMs / BUCKET_MS);
    const slot = epoch % BUCKETS;
    if (this.epochs[slot] !== epoch) {
      this.epochs[slot] = epoch;
      this.counts[slot] = 0;
    }
    this.counts[slot] = (this.counts[slot] as number) + 1;
  }

  /** Lines in the last minute (the current bucket and the eleven before it). */
  perMinute(nowMs: number): number {
    const epoch = Math.floor(nowMs / BUCKET_MS);
    let total = 0;
    for (let slot = 0; slot < BUCKETS; slot++) {
      const age = epoch - (this.epochs[slot] as number);
      if (age >= 0 && age < BUCKETS) total += this.counts[slot] as number;
    }
    return total;
  }
}

class DeviceRecord {
  lastSeenMs = 0;
  lastAcceptedMs = 0;
  accepted = 0;
  readonly rejected = new Map<RejectReason, number>();
  readonly acceptedRate = new MinuteCounter();
  readonly rejectedRate = new MinuteCounter();
  private readonly skews = new Float64Array(SKEW_SAMPLES);
  private skewCount = 0;
  private skewNext = 0;
  bufferDepth?: number;
  bufferOldest?: number;
  bufferTimestamp = -1;
  bufferOldestTimestamp = -1;

  /** Takes over another record's totals (its rates and samples are dropped). */
  absorb(other: DeviceRecord): void {
    this.lastSeenMs = Math.max(this.lastSeenMs, other.lastSeenMs);
    this.accepted += other.accepted;
    for (const [reason, count] of other.rejected)
      this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + count);
  }

  addSkew(seconds: number): void {
    this.skews[this.skewNext] = seconds;
    this.skewNext = (this.skewNext + 1) % SKEW_SAMPLES;
    if (this.skewCount < SKEW_SAMPLES) this.skewCount++;
  }

  skewSummary(): DeviceStatus["skew"] {
    if (this.skewCount === 0) return undefined;
    const sorted = Array.from(this.skews.subarray(0, this.skewCount)).sort((a, b) => a - b);
    const middle = sorted.length >> 1;
    const median =
      sorted.length % 2 === 1
        ? (sorted[middle] as number)
        : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
    return {
      median,
      min: sorted[0] as number,
      max: sorted[sorted.length - 1] as number,
      samples: sorted.length,
    };
  }
}

export interface DeviceBoardOptions {
  /** The auth table in force: which key ids are known, and which of them are disabled. */
  readonly keys: () => ReadonlyMap<string, { readonly disabled: boolean }>;
  /** Rows kept for key ids that are not in the auth file (default 100). */
  readonly maxUnknownKeys?: number;
}

export class DeviceBoard {
  private readonly known = new Map<string, DeviceRecord>();
  /** In least-recently-seen order: a hit moves its row to the end. */
  private readonly unknown = new Map<string, DeviceRecord>();
  private readonly maxUnknownKeys: number;

  constructor(private readonly options: DeviceBoardOptions) {
    this.maxUnknownKeys = options.maxUnknownKeys ?? 100;
  }

  /** Called by the ingest for every line, once decided: `reason` undefined means accepted. */
  observe(decided: DecidedLine, reason: RejectReason | undefined): void {
    const record = this.recordFor(decided);
    const nowMs = decided.nowMs;
    record.lastSeenMs = nowMs;
    if (reason !== undefined) {
      record.rejected.set(reason, (record.rejected.get(reason) ?? 0) + 1);
      record.rejectedRate.add(nowMs);
      return;
    }
    record.accepted++;
    record.lastAcceptedMs = nowMs;
    record.acceptedRate.add(nowMs);
    const line = decided.line;
    if (line === undefined) return;
    // Only accepted lines count: their signature was checked, so nobody else can move these numbers.
    record.addSkew(Math.round(nowMs / 1000 - line.timestamp));
    if (line.metric.endsWith(BUFFER_DEPTH) && line.timestamp >= record.bufferTimestamp) {
      record.bufferDepth = Number(line.value);
      record.bufferTimestamp = line.timestamp;
    } else if (line.metric.endsWith(BUFFER_OLDEST) && line.timestamp >= record.bufferOldestTimestamp) {
      record.bufferOldest = Number(line.value);
      record.bufferOldestTimestamp = line.timestamp;
    }
  }

  private recordFor(decided: DecidedLine): DeviceRecord {
    const keyId = decided.entry?.keyId ?? decided.line?.keyId ?? UNIDENTIFIED;
    // A key that was in the auth file keeps its row after it is removed from it (revoked).
    let record = this.known.get(keyId);
    if (record !== undefined) return record;
    if (decided.entry !== undefined) {
      record = new DeviceRecord();
      this.known.set(keyId, record);
      return record;
    }
    record = this.unknown.get(keyId);
    if (record !== undefined) {
      this.unknown.delete(keyId);
      this.unknown.set(keyId, record);
      return record;
    }
    if (keyId !== UNIDENTIFIED && this.unknownIdsInUse() >= this.maxUnknownKeys) this.evictUnknown();
    record = new DeviceRecord();
    this.unknown.set(keyId, record);
    return record;
  }

  /** Folds the least recently seen unknown key id into the shared row, so totals stay right. */
  private evictUnknown(): void {
    for (const [keyId, evicted] of this.unknown) {
      if (keyId === UNIDENTIFIED || keyId === OTHER_UNKNOWN) continue;
      this.unknown.delete(keyId);
      let other = this.unknown.get(OTHER_UNKNOWN);
      if (other === undefined) {
        other = new DeviceRecord();
        this.unknown.set(OTHER_UNKNOWN, other);
      }
      other.absorb(evicted);
      return;
    }
  }

  private unknownIdsInUse(): number {
    return (
      this.unknown.size - (this.unknown.has(UNIDENTIFIED) ? 1 : 0) - (this.unknown.has(OTHER_UNKNOWN) ? 1 : 0)
    );
  }

  /** Every key in the auth file (seen or not), then the key ids seen that are not in it. */
  snapshot(nowMs: number): DeviceStatus[] {
    const keys = this.options.keys();
    const rows: DeviceStatus[] = [];
    const names = new Set<string>([...keys.keys(), ...this.known.keys(), ...this.unknown.keys()]);
    for (const keyId of names) {
      const entry = keys.get(keyId);
      const record = this.known.get(keyId) ?? this.unknown.get(keyId);
      let state: DeviceState;
      if (keyId === UNIDENTIFIED) state = "unidentified";
      else if (entry === undefined) state = "not_in_auth_file";
      else state = entry.disabled ? "disabled" : "active";
      rows.push(describe(keyId, state, record, nowMs));
    }
    const order: Record<DeviceState, number> = {
      active: 0,
      disabled: 1,
      not_in_auth_file: 2,
      unidentified: 3,
    };
    return rows.sort((a, b) => order[a.state] - order[b.state] || a.keyId.localeCompare(b.keyId));
  }
}

function describe(
  keyId: string,
  state: DeviceState,
  record: DeviceRecord | undefined,
  nowMs: number,
): DeviceStatus {
  if (record === undefined) {
    return {
      keyId,
      state,
      accepted: 0,
      rejected: new Map(),
      rejectedTotal: 0,
      acceptedPerMinute: 0,
      rejectedPerMinute: 0,
    };
  }
  let rejectedTotal = 0;
  for (const count of record.rejected.values()) rejectedTotal += count;
  const skew = record.skewSummary();
  return {
    keyId,
    state,
    ...(record.lastSeenMs > 0 && { lastSeenMs: record.lastSeenMs }),
    ...(record.lastAcceptedMs > 0 && { lastAcceptedMs: record.lastAcceptedMs }),
    accepted: record.accepted,
    rejected: new Map([...record.rejected].sort(([a], [b]) => a.localeCompare(b))),
    rejectedTotal,
    acceptedPerMinute: record.acceptedRate.perMinute(nowMs),
    rejectedPerMinute: record.rejectedRate.perMinute(nowMs),
    ...(skew && { skew }),
    ...(record.bufferDepth !== undefined && {
      buffer: {
        depth: record.bufferDepth,
        timestamp: record.bufferTimestamp,
        ...(record.bufferOldest !== undefined && { oldestAgeSeconds: record.bufferOldest }),
      },
    }),
  };
}
