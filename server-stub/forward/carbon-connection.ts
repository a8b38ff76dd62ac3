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
  onDown(error: Error | undefined): void;
}

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
      const wasUp = this.up;
      this.up = false;
      this.socket = undefined;
      if (wasUp || this.attempt === 0) this.events.onDown(lastError);
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
    socket.write(chunk, "latin1", done);
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
