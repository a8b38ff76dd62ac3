import { SeqRanges } from "./seq-ranges.ts";

/**
 * Counts records a size bound pushed out, by reason. A record that the batch in flight (the latest
 * peek's, not acked yet) holds is not counted at once: if the batch's ack comes it was delivered,
 * and only if the next peek comes first is it counted as dropped (the batch was not taken, and is
 * gone).
 */
export class InFlightDrops<Reason extends string> {
  private readonly counted = new Map<Reason, number>();
  /** Seqs of the batch in flight that are not acked yet. */
  private inFlight = new SeqRanges();
  /** Seqs the bound pushed out of the batch in flight, waiting for its ack or the next peek. */
  private readonly pending = new Map<Reason, SeqRanges>();

  /** Records dropped for `reason`, those pushed out of the batch in flight not yet among them. */
  count(reason: Reason): number {
    return this.counted.get(reason) ?? 0;
  }

  /** A peek handed out `seqs`: the batch before it was not acked, so what was pushed out of it counts now. */
  handOut(seqs: SeqRanges): void {
    this.settle();
    this.inFlight = seqs;
  }

  /** Everything up to `seq` was acked: whatever the bound pushed out of that was delivered after all. */
  acked(seq: number): void {
    this.inFlight.removeUpTo(seq);
    for (const seqs of this.pending.values()) seqs.removeUpTo(seq);
  }

  /**
   * The bound pushed out `records` records with seqs within [first, last] (in ascending order from
   * one call to the next). Those in flight wait; the rest count now, and that number is returned.
   */
  pushedOut(reason: Reason, first: number, last = first, records = last - first + 1): number {
    const inFlight = this.inFlight.countWithin(first, last);
    this.inFlight.copyWithin(first, last, this.pendingFor(reason));
    const now = records - inFlight;
    this.add(reason, now);
    return now;
  }

  /** No ack will come for the batch in flight (a new peek, a drain, close): what was pushed out of it counts now. */
  settle(): void {
    for (const [reason, seqs] of this.pending) {
      this.add(reason, seqs.size);
      seqs.clear();
    }
    this.inFlight.clear();
  }

  private pendingFor(reason: Reason): SeqRanges {
    let seqs = this.pending.get(reason);
    if (!seqs) {
      seqs = new SeqRanges();
      this.pending.set(reason, seqs);
    }
    return seqs;
  }

  private add(reason: Reason, records: number): void {
    this.counted.set(reason, this.count(reason) + records);
  }
}
