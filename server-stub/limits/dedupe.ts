/**
 * Remembers accepted lines for at least `windowMs` (and at most about twice that), in at most
 * `maxEntries` entries: two generations, the older dropped whole when the newer is full or old
 * enough. O(1) per line, no timers, injected clock.
 */
export interface DedupePolicy {
  readonly windowMs: number;
  readonly maxEntries: number;
}

export class Dedupe {
  private current: IdSet;
  private previous: IdSet;
  private currentStartMs: number | undefined;

  constructor(private readonly policy: DedupePolicy) {
    const seed = (Math.random() * 0x1_0000_0000) | 0;
    this.current = new IdSet(seed);
    this.previous = new IdSet(seed);
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }

  /** Returns true when `id` was seen inside the window (a duplicate); otherwise remembers it. */
  seen(id: string, nowMs: number): boolean {
    if (this.policy.maxEntries <= 0) return false;
    this.rotateIfDue(nowMs);
    const hash = this.current.hashOf(id);
    if (this.previous.has(id, hash)) return true;
    return !this.current.add(id, hash);
  }

  /** Forgets `id`, so a line that could not be forwarded can be sent again. */
  forget(id: string): void {
    const hash = this.current.hashOf(id);
    this.current.delete(id, hash);
    this.previous.delete(id, hash);
  }

  private rotateIfDue(nowMs: number): void {
    if (this.currentStartMs === undefined) this.currentStartMs = nowMs;
    const age = nowMs - this.currentStartMs;
    if (age >= this.policy.windowMs || age < 0 || this.current.size >= this.policy.maxEntries / 2) {
      const dropped = this.previous;
      dropped.clear();
      if (age >= 2 * this.policy.windowMs) this.current.clear();
      this.previous = this.current;
      this.current = dropped;
      this.currentStartMs = nowMs;
    }
  }
}

const INITIAL_SLOTS = 1024;
const HASHED_CHARS = 16;
/** A slot that never held an id (a deleted id keeps its hash, so probing walks past it). */
const EMPTY = 0;

/**
 * A set of strings as an open-addressing table: a 32-bit hash per slot in one typed array, probed
 * linearly, and the id itself in a parallel array, read only when a hash matches. A lookup for a
 * new id (the common case) touches a few adjacent integers instead of chasing pointers to strings,
 * which is what a Set of 100,000 strings spends its time on. Kept at most half full; the slots are
 * reused, not reallocated, when the generation is dropped.
 */
class IdSet {
  size = 0;
  /** Slots holding an id or a deleted one's hash: what bounds a probe. */
  private used = 0;
  private hashes = new Int32Array(INITIAL_SLOTS);
  private ids: (string | undefined)[] = new Array<string | undefined>(INITIAL_SLOTS).fill(undefined);

  constructor(private readonly seed: number) {}

  /**
   * A seeded FNV-1a-style hash of the id's first HASHED_CHARS characters, never EMPTY. Seeded so
   * that no client can aim ids at one chain. The ids are signatures that passed verification, whose
   * first 16 base64 characters are 96 bits that only the key can choose: reading the rest would
   * cost more than it spreads. Ids are still compared whole, so this decides speed, not answers.
   */
  hashOf(id: string): number {
    let hash = this.seed ^ 0x811c9dc5;
    const hashed = Math.min(id.length, HASHED_CHARS);
    for (let index = 0; index < hashed; index++) {
      hash = Math.imul(hash ^ id.charCodeAt(index), 0x01000193);
    }
    hash ^= hash >>> 15;
    return hash === EMPTY ? 1 : hash;
  }

  has(id: string, hash: number): boolean {
    return this.slotOf(id, hash) >= 0;
  }

  /** Adds `id`; returns false when it was already there. */
  add(id: string, hash: number): boolean {
    const mask = this.hashes.length - 1;
    let slot = hash & mask;
    for (;;) {
      const stored = this.hashes[slot] as number;
      if (stored === EMPTY) break;
      if (stored === hash && this.ids[slot] === id) return false;
      slot = (slot + 1) & mask;
    }
    this.hashes[slot] = hash;
    this.ids[slot] = id;
    this.size++;
    if (++this.used * 2 > this.hashes.length) this.grow();
    return true;
  }

  delete(id: string, hash: number): void {
    const slot = this.slotOf(id, hash);
    if (slot < 0) return;
    this.ids[slot] = undefined;
    this.size--;
  }

  clear(): void {
    if (this.used === 0) return;
    this.hashes.fill(EMPTY);
    this.ids.fill(undefined);
    this.size = 0;
    this.used = 0;
  }

  private slotOf(id: string, hash: number): number {
    const mask = this.hashes.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const stored = this.hashes[slot] as number;
      if (stored === EMPTY) return -1;
      if (stored === hash && this.ids[slot] === id) return slot;
    }
  }

  private grow(): void {
    const hashes = this.hashes;
    const ids = this.ids;
    this.hashes = new Int32Array(hashes.length * 2);
    this.ids = new Array<string | undefined>(hashes.length * 2).fill(undefined);
    this.size = 0;
    this.used = 0;
    for (let slot = 0; slot < hashes.length; slot++) {
      const id = ids[slot];
      if (id !== undefined) this.add(id, hashes[slot] as number);
    }
  }
}
