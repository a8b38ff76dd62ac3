import { connect } from "node:net";
import type { Socket } from "node:net";
import { backoffDelay, DEFAULT_BACKOFF } from "./backoff.ts";
import type { BackoffPolicy } from "./backoff.ts";

export interface CarbonAddress {
  readonly host: string;
  readonly port: number;
}

export interface CarbonConnectionEvents {
  onUp(): void;
  /**
   * Every time a connection closes or an attempt fails (so a long outage keeps reporting). `unread`:
   * what was written to it just before Carbon closed it, which Carbon may never have read (the line
   * protocol has no acks): the last {@link UNREAD_WINDOW_MS} after a reset, less after a clean end.
   */
  onDown(error: Error | undefined, unread: readonly string[]): void;
}

/** Chunks written this recently before Carbon resets a connection are written again. */
export const UNREAD_WINDOW_MS = 2000;
/** The same after a clean close: the chunks that may have crossed Carbon's FIN. */
const FIN_RACE_MS = 250;
const UNREAD_MAX_BYTES = 8 * 1024 * 1024;

/**
 * One persistent plaintext connection to Carbon's line receiver, reconnecting with backoff.
 * Carbon never writes back, so anything from its side (end, error) means the connection is gone.
 */
export class CarbonConnection {
  private socket: Socket | undefined;
  private up = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Chunks the kernel took in the last UNREAD_WINDOW_MS, oldest first. */
  private recent: { chunk: string; atMs: number }[] = [];
  private recentBytes = 0;

  constructor(
    private readonly address: CarbonAddress,
    private readonly events: CarbonConnectionEvents,
    private readonly backoff: BackoffPolicy = DEFAULT_BACKOFF,
  ) {}

  get isUp(): boolean {
    return this.up;
  }

  /** Bytes written but not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.socket?.writableLength ?? 0;
  }

  start(): void {
    if (this.closed || this.socket) return;
    const socket = connect({
      host: this.address.host,
      port: this.address.port,
      noDelay: false,
      keepAlive: true,
    });
    this.socket = socket;
    let lastError: Error | undefined;
    socket.on("connect", () => {
      this.up = true;
      this.attempt = 0;
      this.events.onUp();
    });
    socket.on("data", () => undefined);
    socket.on("end", () => socket.destroy());
    socket.on("error", (error) => {
      lastError = error;
    });
    socket.on("close", () => {
      this.up = false;
      this.socket = undefined;
      // A peer that closes with data unread sends RST, not FIN (RFC 1122): after a reset, what was
      // written lately may be lost; after a clean end, only what was written after Carbon's FIN
      // arrived and before this process saw it (one turn of the event loop, say).
      const recent = this.takeRecent(lastError === undefined ? FIN_RACE_MS : UNREAD_WINDOW_MS);
      const unread = this.closed ? [] : recent;
      this.events.onDown(lastError, unread);
      if (!this.closed) {
        this.attempt++;
        this.retryTimer = setTimeout(
          () => {
            this.retryTimer = undefined;
            this.start();
          },
          backoffDelay(this.attempt, this.backoff),
        );
      }
    });
  }

  /** Writes a chunk; `done` gets an error if it never reached the kernel. */
  write(chunk: string, done: (error: Error | null | undefined) => void): void {
    const socket = this.socket;
    if (!socket || !this.up) {
      done(new Error("not connected to Carbon"));
      return;
    }
    socket.write(chunk, "latin1", (error) => {
      if (!error) this.remember(chunk);
      done(error);
    });
  }

  private remember(chunk: string): void {
    const now = performance.now();
    this.recent.push({ chunk, atMs: now });
    this.recentBytes += chunk.length;
    while (this.recent.length > 0) {
      const oldest = this.recent[0] as { chunk: string; atMs: number };
      if (now - oldest.atMs <= UNREAD_WINDOW_MS && this.recentBytes <= UNREAD_MAX_BYTES) break;
      this.recent.shift();
      this.recentBytes -= oldest.chunk.length;
    }
  }

  private takeRecent(windowMs: number): string[] {
    const now = performance.now();
    const unread = this.recent.filter((entry) => now - entry.atMs <= windowMs).map((entry) => entry.chunk);
    this.recent = [];
    this.recentBytes = 0;
    return unread;
  }

  /** Waits (up to `timeoutMs`) for written data to reach the kernel, then closes. */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const socket = this.socket;
    if (!socket) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, timeoutMs);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }
}
