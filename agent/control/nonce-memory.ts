import { readFileSync, renameSync, writeFileSync } from "node:fs";

/**
 * The nonces of control messages already taken, so none is taken twice. Only messages inside the
 * time window can pass the staleness check, so a nonce is kept until its message's `ts` has left
 * the window, then forgotten: memory stays bounded by the rate of the owner's messages.
 *
 * `maxEntries` bounds it anyway. Forgetting a nonce early would let its message be replayed, so an
 * eviction raises a floor instead: every message with a `ts` at or below the newest evicted one is
 * refused from then on.
 *
 * With a `file`, the memory survives restarts (a message captured a minute before a reboot cannot be
 * replayed after it). An unreadable or corrupt file sets the floor to the start time.
 */
export interface NonceMemoryOptions {
  /** The staleness window, either way (the control channel's max skew). */
  readonly windowMs: number;
  /** Default 10 000. */
  readonly maxEntries?: number;
  /** Where to keep the nonces between runs (JSON, mode 0600); none: memory only. */
  readonly file?: string;
  readonly nowMs: number;
  /** Told when the file could not be read or written. */
  readonly onProblem?: (problem: string) => void;
}

interface NonceFile {
  readonly v: 1;
  /** Unix seconds. */
  readonly floor: number;
  readonly nonces: Record<string, number>;
}

export class NonceMemory {
  readonly #windowMs: number;
  readonly #maxEntries: number;
  readonly #file: string | undefined;
  readonly #onProblem: (problem: string) => void;
  /** nonce → ts (Unix seconds), in insertion order. */
  readonly #seen = new Map<string, number>();
  #floor = -1;

  constructor(options: NonceMemoryOptions) {
    this.#windowMs = options.windowMs;
    this.#maxEntries = Math.max(1, options.maxEntries ?? 10_000);
    this.#file = options.file;
    this.#onProblem = options.onProblem ?? (() => undefined);
    if (this.#file !== undefined) this.#load(this.#file, options.nowMs);
  }

  get size(): number {
    return this.#seen.size;
  }

  /**
   * True, and the nonce is remembered, when this is the first time it is seen. False for a replay.
   * Call only for messages whose signature and time window were checked.
   */
  take(nonce: string, tsSeconds: number, nowMs: number): boolean {
    this.#prune(nowMs);
    if (this.#seen.has(nonce) || tsSeconds <= this.#floor) return false;
    this.#seen.set(nonce, tsSeconds);
    while (this.#seen.size > this.#maxEntries) {
      const oldest = this.#oldest();
      if (oldest === undefined) break;
      this.#seen.delete(oldest[0]);
      this.#floor = Math.max(this.#floor, oldest[1]);
    }
    this.#save();
    return true;
  }

  #oldest(): [string, number] | undefined {
    let found: [string, number] | undefined;
    for (const entry of this.#seen) if (found === undefined || entry[1] < found[1]) found = entry;
    return found;
  }

  #prune(nowMs: number): void {
    const horizon = (nowMs - this.#windowMs) / 1000;
    for (const [nonce, ts] of this.#seen) if (ts < horizon) this.#seen.delete(nonce);
  }

  #load(file: string, nowMs: number): void {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      this.#distrust(nowMs, `${file}: cannot be read (${code ?? "error"})`);
      return;
    }
    try {
      const data = JSON.parse(text) as NonceFile;
      if (data.v !== 1 || typeof data.floor !== "number" || typeof data.nonces !== "object")
        throw new Error();
      this.#floor = data.floor;
      for (const [nonce, ts] of Object.entries(data.nonces))
        if (typeof ts === "number") this.#seen.set(nonce, ts);
      this.#prune(nowMs);
    } catch {
      this.#distrust(nowMs, `${file}: not a nonce file`);
    }
  }

  #distrust(nowMs: number, problem: string): void {
    this.#floor = Math.floor(nowMs / 1000);
    this.#onProblem(`${problem}; refusing control messages from before ${new Date(nowMs).toISOString()}`);
  }

  #save(): void {
    if (this.#file === undefined) return;
    const data: NonceFile = { v: 1, floor: this.#floor, nonces: Object.fromEntries(this.#seen) };
    const temp = `${this.#file}.tmp`;
    try {
      writeFileSync(temp, JSON.stringify(data), { mode: 0o600 });
      renameSync(temp, this.#file);
    } catch (error) {
      this.#onProblem(
        `${this.#file}: cannot be written (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      );
    }
  }
}
