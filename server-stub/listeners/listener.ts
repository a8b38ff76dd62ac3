import type { Socket } from "node:net";
import type { Logger } from "pino";
import type { Ingest } from "../ingest/ingest.ts";
import type { ConnectionCaps } from "../limits/connection-caps.ts";
import type { FailureBudget } from "../limits/failure-budget.ts";
import type { ServerStats } from "../metrics/server-stats.ts";
import type { ListenAddress } from "./listen-address.ts";
import { sourceAddress } from "./listen-address.ts";

/** One listening socket of any scheme. */
export interface Listener {
  readonly address: ListenAddress;
  /** Resolves with the bound address (the real port when 0 was asked for). */
  start(): Promise<ListenAddress>;
  /** Stops accepting, then closes open connections after up to `graceMs`. */
  close(graceMs: number): Promise<void>;
}

/** What every listener needs from the server. */
export interface ListenerContext {
  readonly ingest: Ingest;
  readonly caps: ConnectionCaps;
  readonly failures: FailureBudget;
  readonly stats: ServerStats;
  readonly log: Logger;
  readonly clock: () => number;
  readonly maxLineBytes: number;
  readonly idleTimeoutMs: number;
}

/**
 * The admission check on a raw connection, before TLS or HTTP: a blocked source or one over the
 * caps is dropped at once. Returns the source address, or undefined when the socket was destroyed.
 */
export function admitConnection(socket: Socket, context: ListenerContext): string | undefined {
  const source = sourceAddress(socket.remoteAddress);
  if (context.failures.isBlocked(source, context.clock())) {
    context.stats.refusedConnection("source_blocked");
    socket.destroy();
    return undefined;
  }
  const refusal = context.caps.acquire(source);
  if (refusal !== undefined) {
    context.stats.refusedConnection(refusal);
    context.log.debug({ source, why: refusal }, "connection refused");
    socket.destroy();
    return undefined;
  }
  socket.once("close", () => context.caps.release(source));
  socket.on("error", () => undefined);
  return source;
}
