import { createServer as createHttpServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage["headers"];
  /** The body after gunzip, as the server would read it. */
  readonly body: string;
  /** Which TCP connection it came on (1, 2, …): shows keep-alive at work. */
  readonly connection: number;
}

export interface ScriptedReply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  /** An object is sent as JSON. */
  readonly body?: unknown;
  /** Never answer (for timeouts). */
  readonly hang?: boolean;
}

/** Decides the reply from the request; `lines` are the body's lines. */
export type ReplyScript = (
  lines: string[],
  request: ReceivedRequest,
) => ScriptedReply | Promise<ScriptedReply>;

export interface IngestTestServer {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  connections(): number;
  close(): Promise<void>;
}

/** The server side of POST /v1/lines, scripted per test, on 127.0.0.1. */
export async function startIngestTestServer(
  script: ReplyScript,
  tls?: { cert: Buffer; key: Buffer },
): Promise<IngestTestServer> {
  const requests: ReceivedRequest[] = [];
  let connectionCount = 0;
  const connectionIds = new WeakMap<object, number>();
  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const raw = Buffer.concat(chunks);
      const body = (request.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw).toString("utf8");
      const received: ReceivedRequest = {
        method: request.method ?? "",
        path: request.url ?? "",
        headers: request.headers,
        body,
        connection: connectionIds.get(request.socket) ?? 0,
      };
      requests.push(received);
      const lines = body.split("\n");
      if (lines[lines.length - 1] === "") lines.pop();
      void Promise.resolve(script(lines, received)).then((reply) => {
        if (reply.hang === true || response.destroyed) return;
        const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body ?? {});
        response.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
        response.end(text);
      });
    });
  };
  const server: Server = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key }, handler)
    : createHttpServer(handler);
  server.on(tls ? "secureConnection" : "connection", (socket: object) => {
    connectionIds.set(socket, ++connectionCount);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
    requests,
    connections: () => connectionCount,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The reply of a server that accepts every line. */
export function acceptAll(lines: string[]): ScriptedReply {
  return { status: 200, body: { accepted: lines.length, rejected: {}, errors: [] } };
}
