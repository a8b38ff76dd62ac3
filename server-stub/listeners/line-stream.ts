import type { Socket } from "node:net";
import type { IngestResult } from "../ingest/ingest.ts";
import type { ListenerContext } from "./listener.ts";

/** Batches waiting on verify workers before the connection stops reading (backpressure). */
const MAX_PENDING_BATCHES = 8;

/**
 * amproxy's line protocol on one stream socket (plain or TLS): newline-delimited lines, a trailing
 * CR accepted, nothing ever written back. A line over the cap closes the connection, as does a
 * source using up its failure budget; a quiet connection is closed after the idle timeout.
 */
export function serveLines(socket: Socket, source: string, context: ListenerContext): void {
  // One byte of slack for a CR before the newline.
  const maxFramed = context.maxLineBytes + 1;
  let remainder = "";
  let pendingBatches = 0;
  let paused = false;

  socket.setTimeout(context.idleTimeoutMs, () => {
    context.stats.refusedConnection("idle_timeout");
    socket.destroy();
  });

  const handle = (result: IngestResult): void => {
    if (result.sourceBlocked && !socket.destroyed) {
      context.log.warn({ source }, "source used up its failure budget; closing its connection");
      socket.destroy();
    }
  };

  const submit = (lines: string[]): void => {
    const outcome = context.ingest.submit(lines, source);
    if (!(outcome instanceof Promise)) {
      handle(outcome);
      return;
    }
    pendingBatches++;
    if (pendingBatches >= MAX_PENDING_BATCHES && !paused) {
      paused = true;
      socket.pause();
    }
    void outcome.then((result) => {
      pendingBatches--;
      handle(result);
      if (paused && pendingBatches < MAX_PENDING_BATCHES / 2 && !socket.destroyed) {
        paused = false;
        socket.resume();
      }
    });
  };

  socket.on("data", (chunk: Buffer) => {
    if (socket.destroyed) return;
    const text = remainder.length > 0 ? remainder + chunk.toString("latin1") : chunk.toString("latin1");
    const lines: string[] = [];
    let start = 0;
    let tooLong: string | undefined;
    for (let newline = text.indexOf("\n"); newline >= 0; newline = text.indexOf("\n", start)) {
      const length = newline - start;
      if (length > context.maxLineBytes && (length > maxFramed || text.charCodeAt(newline - 1) !== 0x0d)) {
        tooLong = text.slice(start, start + maxFramed + 1);
        break;
      }
      lines.push(text.slice(start, newline));
      start = newline + 1;
    }
    remainder = tooLong === undefined ? text.slice(start) : "";
    if (tooLong === undefined && remainder.length > maxFramed) tooLong = remainder.slice(0, maxFramed + 1);
    if (tooLong !== undefined) lines.push(tooLong);
    if (lines.length > 0) submit(lines);
    if (tooLong !== undefined) {
      context.log.debug({ source }, "line over the length cap; closing the connection");
      remainder = "";
      socket.destroy();
    }
  });

  socket.on("end", () => {
    // A last line without its newline still counts, as with amproxy's line scanner.
    if (remainder.length > 0) submit([remainder]);
    remainder = "";
    socket.end();
  });
}
