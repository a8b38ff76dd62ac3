/**
 * A set of record seqs kept as ascending, non-overlapping ranges. The seqs a peek hands out are
 * nearly always one or two runs, so this stays a handful of numbers however big the batch.
 * Seqs must be added in ascending order.
 */
export class SeqRanges {
  /** [first, last] pairs, ascending. */
  private ranges: [number, number][] = [];

  get size(): number {
    let size = 0;
    for (const [first, last] of this.ranges) size += last - first + 1;
    return size;
  }

  add(seq: number): void {
    this.addRange(seq, seq);
  }

  /** Adds [first, last]; it must lie above every seq already held. */
  addRange(first: number, last: number): void {
    const top = this.ranges.at(-1);
    if (top && first <= top[1]) throw new RangeError(`seqs ${first}..${last} added out of order`);
    if (top && top[1] + 1 === first) top[1] = last;
    else this.ranges.push([first, last]);
  }

  has(seq: number): boolean {
    return this.ranges.some(([first, last]) => first <= seq && seq <= last);
  }

  /** How many seqs lie within [from, to]. */
  countWithin(from: number, to: number): number {
    let count = 0;
    for (const [first, last] of this.ranges) {
      const low = Math.max(first, from);
      const high = Math.min(last, to);
      if (low <= high) count += high - low + 1;
    }
    return count;
  }

  /** Adds to `target` the seqs of this set that lie within [from, to]. */
  copyWithin(from: number, to: number, target: SeqRanges): void {
    for (const [first, last] of this.ranges) {
      const low = Math.max(first, from);
      const high = Math.min(last, to);
      if (low <= high) target.addRange(low, high);
    }
  }

  /** Forgets every seq at or below `seq`. */
  removeUpTo(seq: number): void {
    const kept: [number, number][] = [];
    for (const [first, last] of this.ranges) {
      if (last <= seq) continue;
      kept.push([Math.max(first, seq + 1), last]);
    }
    this.ranges = kept;
  }

  clear(): void {
    this.ranges = [];
  }
}
