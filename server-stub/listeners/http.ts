import { createServer as createHttpServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import { createGunzip } from "node:zlib";
import { INGEST_PATH } from "../../protocol/ingest-api.ts";
import type { IngestReply } from "../../protocol/ingest-api.ts";
import { RejectReason } from "../../protocol/reasons.ts";
import type { IngestResult } from "../ingest/ingest.ts";
import { closeServer, listenOn } from "./server-lifecycle.ts";
import { sourceAddress } from "./listen-address.ts";
import type { ListenAddress } from "./listen-address.ts";
import { admitConnection } from "./listener.ts";
import type { Listener, ListenerContext } from "./listener.ts";
import type { TlsCredentials } from "./tls-credentials.ts";

export interface HttpLimits {
  /** Bytes of request body as sent (compressed or not). */
  readonly maxBodyBytes: number;
  /** Bytes of body after gunzip. */
  readonly maxInflatedBytes: number;
}

class BodyTooLarge extends Error {}
class BadBody extends Error {}

/**
 * HTTP(S) ingest: POST /v1/lines with signed lines as the body (optionally gzip). The reply says
 * what happened to every line; the status says whether to retry: 200 all decided, 429 rate limited
 * or blocked (Retry-After), 503 the forwarder is full (Retry-After), 413 the body is too large.
 */
export class HttpListener implements Listener {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly address: ListenAddress,
    private readonly context: ListenerContext,
    private readonly limits: HttpLimits,
    credentials?: TlsCredentials,
  ) {
    const handler = (request: IncomingMessage, response: ServerResponse): void => {
      void this.handle(request, response);
    };
    if (credentials) {
      this.server = createHttpsServer(
        {
          ...credentials.current,
          requestCert: credentials.requireClientCert,
          rejectUnauthorized: credentials.requireClientCert,
        },
        handler,
      );
      credentials.onReload((options) =>
        (this.server as ReturnType<typeof createHttpsServer>).setSecureContext(options),
      );
    } else {
      this.server = createHttpServer(handler);
    }
    this.server.requestTimeout = 30_000;
    this.server.headersTimeout = 10_000;
    this.server.keepAliveTimeout = 5_000;
    this.server.timeout = context.idleTimeoutMs;
    this.server.on("connection", (socket: Socket) => {
      if (admitConnection(socket, context) === undefined) return;
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
  }

  start(): Promise<ListenAddress> {
    return listenOn(this.server, this.address);
  }

  close(graceMs: number): Promise<void> {
    this.server.closeIdleConnections();
    return closeServer(this.server, this.sockets, graceMs);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? "/").split("?")[0];
    if (path !== INGEST_PATH) {
      reply(response, 404, { error: `not found; POST signed lines to ${INGEST_PATH}` });
      request.resume();
      return;
    }
    if (request.method !== "POST") {
      response.setHeader("Allow", "POST");
      reply(response, 405, { error: "method not allowed; use POST" });
      request.resume();
      return;
    }
    const declared = Number(request.headers["content-length"] ?? "0");
    if (declared > this.limits.maxBodyBytes) {
      this.tooLarge(request, response);
      return;
    }
    let body: string;
    try {
      body = await readBody(request, this.limits);
    } catch (error) {
      if (error instanceof BodyTooLarge) this.tooLarge(request, response);
      else if (error instanceof BadBody) reply(response, 400, { error: error.message });
      else request.destroy();
      return;
    }
    const lines = splitBody(body);
    const source = sourceAddress(request.socket.remoteAddress);
    const result = await this.context.ingest.submit(lines, source);
    await result.forwarded;
    this.answer(response, result);
  }

  private answer(response: ServerResponse, result: IngestResult): void {
    const rejected: Partial<Record<RejectReason, number>> = {};
    for (const [reason, count] of result.rejected) rejected[reason] = count;
    const body: IngestReply = { accepted: result.accepted, rejected, errors: result.errors };
    let status = 200;
    if (result.rejected.has(RejectReason.ForwardOverflow)) status = 503;
    else if (
      result.rejected.has(RejectReason.RateLimitedKey) ||
      result.rejected.has(RejectReason.RateLimitedSource) ||
      result.rejected.has(RejectReason.SourceBlocked)
    ) {
      status = 429;
    }
    if (status !== 200)
      response.setHeader("Retry-After", String(Math.max(1, Math.ceil(result.retryAfterMs / 1000))));
    if (result.sourceBlocked) response.setHeader("Connection", "close");
    reply(response, status, body);
  }

  private tooLarge(request: IncomingMessage, response: ServerResponse): void {
    response.setHeader("Connection", "close");
    reply(response, 413, {
      error: `body too large: at most ${this.limits.maxBodyBytes} bytes, ${this.limits.maxInflatedBytes} after gunzip`,
    });
    // Stop reading a body we will not use; the reply is already on its way.
    request.unpipe();
    response.once("finish", () => request.socket.destroy());
  }
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) return;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
  });
  response.end(text);
}

/** Reads the body, gunzipping it when asked, and stops as soon as either limit is passed. */
function readBody(request: IncomingMessage, limits: HttpLimits): Promise<string> {
  const encoding = (request.headers["content-encoding"] ?? "identity").toLowerCase();
  if (encoding !== "identity" && encoding !== "gzip") {
    request.resume();
    return Promise.reject(new BadBody(`unsupported Content-Encoding "${encoding}"; use gzip or none`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let inflated = 0;
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      reject(error);
    };
    request.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.maxBodyBytes) fail(new BodyTooLarge());
    });
    request.on("error", fail);
    const source = encoding === "gzip" ? request.pipe(createGunzip()) : request;
    source.on("data", (chunk: Buffer) => {
      if (settled) return;
      inflated += chunk.length;
      if (inflated > limits.maxInflatedBytes) {
        fail(new BodyTooLarge());
        if (source !== request) (source as ReturnType<typeof createGunzip>).destroy();
        return;
      }
      chunks.push(chunk);
    });
    source.on("error", () => fail(new BadBody("the body is not valid gzip")));
    source.on("end", () => {
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
  });
}

function splitBody(body: string): string[] {
  const lines = body.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}
