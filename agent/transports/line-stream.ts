import type { Socket } from "node:net";
import { DEFAULT_MAX_LINE_BYTES, parseSignedLine } from "../../protocol/line.ts";
import { describeNetworkError, isTrustError } from "./network-error.ts";
import type { SendOutcome, Transport } from "./transport.ts";

export const DEFAULT_STREAM_TIMEOUT_MS = 30_000;

/**
 * Opens a connection; the socket emits `readyEvent` once lines can be written. Asynchronous, so a
 * connector can load what it needs (node:tls) at its first connection rather than at start.
 */
export interface StreamConnector {
  readonly readyEvent: "connect" | "secureConnect";
  connect(): Promise<Socket>;
}

export interface LineStreamOptions {
  readonly target: string;
  readonly host: string;
  readonly connector: StreamConnector;
  /** Connecting, and then writing one batch (default 30 s each). */
  readonly timeoutMs?: number;
  /** Lines longer than this are never sent: the server would close the connection on them. */
  readonly maxLineBytes?: number;
}

/**
 * amproxy's line protocol: newline-terminated lines written to one long-lived socket, with no
 * reply. A batch counts as delivered once the socket's write callback has fired, i.e. the kernel has
 * the bytes; that is all this protocol can tell. The tcp and tls transports differ only in how they
 * connect. A failed connect or write is a "retry" outcome; the shipper's backoff paces reconnects.
 */
export class LineStreamTransport implements Transport {
  readonly target: string;
  readonly host: string;
  private readonly connector: StreamConnector;
  private readonly timeoutMs: number;
  private readonly maxLineBytes: number;
  private socket: Socket | undefined;

  constructor(options: LineStreamOptions) {
    this.target = options.target;
    this.host = options.host;
    this.connector = options.connector;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS;
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  }

  async send(lines: readonly string[]): Promise<SendOutcome> {
    // With no reply, the server's verdict on a line is never heard; a malformed or over-long line
    // would at best be dropped silently, at worst cost the connection and what follows it. So the
    // lines the server would refuse for their form are screened out here and counted.
    const rejected: Record<string, number> = {};
    const sendable: string[] = [];
    for (const line of lines) {
      const parsed = parseSignedLine(line, { maxLineBytes: this.maxLineBytes });
      if (parsed.ok) sendable.push(line);
      else rejected[parsed.reason] = (rejected[parsed.reason] ?? 0) + 1;
    }
    if (sendable.length === 0) return { kind: "delivered", accepted: 0, rejected };
    let socket: Socket;
    try {
      socket = await this.connected();
    } catch (error) {
      const untrusted = isTrustError(error);
      const why = `${untrusted ? "did not trust" : "could not reach"} ${this.host} (${describeNetworkError(error)})`;
      return untrusted ? { kind: "fatal", why } : { kind: "retry", why };
    }
    try {
      await this.write(socket, `${sendable.join("\n")}\n`);
    } catch (error) {
      this.discard(socket);
      return {
        kind: "retry",
        why: `lost the connection to ${this.host} while sending (${describeNetworkError(error)})`,
      };
    }
    return { kind: "delivered", accepted: sendable.length, rejected };
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket === undefined || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => socket.destroy(), this.timeoutMs);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }

  private discard(socket: Socket): void {
    if (this.socket === socket) this.socket = undefined;
    socket.destroy();
  }

  /** The open socket, or a new one. A socket the server has closed is never written to again. */
  private async connected(): Promise<Socket> {
    const current = this.socket;
    if (current !== undefined && !current.destroyed && current.writable) return current;
    this.socket = undefined;
    const socket = await this.connector.connect();
    return new Promise((resolve, reject) => {
      const fail = (error: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      };
      const timer = setTimeout(
        () =>
          fail(Object.assign(new Error(`no connection within ${this.timeoutMs} ms`), { code: "ETIMEDOUT" })),
        this.timeoutMs,
      );
      socket.once("error", fail);
      socket.once(this.connector.readyEvent, () => {
        clearTimeout(timer);
        socket.off("error", fail);
        this.adopt(socket);
        resolve(socket);
      });
    });
  }

  private adopt(socket: Socket): void {
    this.socket = socket;
    socket.setKeepAlive(true, 60_000);
    // amproxy never writes back; reading keeps the peer's FIN (it closed on us) from going unseen.
    socket.resume();
    const forget = (): void => {
      if (this.socket === socket) this.socket = undefined;
    };
    socket.on("error", forget);
    socket.once("end", () => {
      forget();
      socket.destroy();
    });
    socket.once("close", forget);
  }

  /** Resolves once the kernel has taken every byte (the write callback), or fails on error/timeout. */
  private write(socket: Socket, payload: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const onClose = (): void =>
        finish(Object.assign(new Error("connection closed"), { code: "ECONNRESET" }));
      const timer = setTimeout(
        () =>
          finish(
            Object.assign(new Error(`write not finished within ${this.timeoutMs} ms`), { code: "ETIMEDOUT" }),
          ),
        this.timeoutMs,
      );
      let done = false;
      const finish = (error?: Error | null): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.off("close", onClose);
        if (error) reject(error);
        else resolve();
      };
      socket.once("close", onClose);
      socket.write(payload, finish);
    });
  }
}
