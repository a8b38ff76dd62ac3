import type { RejectReason } from "../../protocol/reasons.ts";

/** The label for lines whose key is not in the auth file (or could not be read): ids chosen by a client must not become labels. */
export const NO_KEY = "-";

export interface KeyCounters {
  accepted: number;
  readonly rejected: Map<RejectReason, number>;
}

/**
 * The server's own counters, kept as plain numbers on the hot path; Prometheus and the Carbon
 * report read them when they are collected.
 */
export class ServerStats {
  readonly perKey = new Map<string, KeyCounters>();
  /** Connections refused before any line was read, by why. */
  readonly connectionsRefused = new Map<string, number>();
  sourcesBlocked = 0;
  rejectionLogsSuppressed = 0;

  private countersFor(keyLabel: string): KeyCounters {
    let counters = this.perKey.get(keyLabel);
    if (counters === undefined) {
      counters = { accepted: 0, rejected: new Map() };
      this.perKey.set(keyLabel, counters);
    }
    return counters;
  }

  accepted(keyLabel: string, count = 1): void {
    this.countersFor(keyLabel).accepted += count;
  }

  rejected(keyLabel: string, reason: RejectReason, count = 1): void {
    const rejected = this.countersFor(keyLabel).rejected;
    rejected.set(reason, (rejected.get(reason) ?? 0) + count);
  }

  refusedConnection(why: string): void {
    this.connectionsRefused.set(why, (this.connectionsRefused.get(why) ?? 0) + 1);
  }

  totalAccepted(): number {
    let total = 0;
    for (const counters of this.perKey.values()) total += counters.accepted;
    return total;
  }

  totalRejected(): Map<RejectReason, number> {
    const totals = new Map<RejectReason, number>();
    for (const counters of this.perKey.values()) {
      for (const [reason, count] of counters.rejected) totals.set(reason, (totals.get(reason) ?? 0) + count);
    }
    return totals;
  }
}
