import { createServer as createHttpServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { SecureContextOptions } from "node:tls";
import type { ListenAddress } from "../listeners/listen-address.ts";
import { closeServer, listenOn } from "../listeners/server-lifecycle.ts";
import type { DeviceBoard } from "./device-board.ts";
import { CONTENT_SECURITY_POLICY, statusHtml, statusJson } from "./status-page.ts";
import type { ServerSummary } from "./status-page.ts";
import { checkBasicAuth } from "./status-users.ts";
import type { StatusUser } from "./status-users.ts";

export interface StatusServerOptions {
  readonly address: ListenAddress;
  readonly users: readonly StatusUser[];
  readonly board: DeviceBoard;
  readonly summary: () => ServerSummary;
  /** For an https:// status address: the server's certificate and key (no client certificate asked). */
  readonly tls?: SecureContextOptions;
  readonly onTlsReload?: (listener: (options: SecureContextOptions) => void) => void;
}

const COMMON_HEADERS = {
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
} as const;

/** The status page: GET / (HTML) and GET /status.json, both behind basic auth. */
export class StatusServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: StatusServerOptions) {
    const handler = (request: IncomingMessage, response: ServerResponse): void =>
      this.handle(request, response);
    if (options.tls) {
      const { cert, key } = options.tls;
      const server = createHttpsServer({ cert, key }, handler);
      options.onTlsReload?.((next) => server.setSecureContext({ cert: next.cert, key: next.key }));
      this.server = server;
    } else {
      this.server = createHttpServer(handler);
    }
    this.server.requestTimeout = 10_000;
    this.server.headersTimeout = 10_000;
    this.server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
      socket.on("error", () => undefined);
    });
  }

  start(): Promise<ListenAddress> {
    return listenOn(this.server, this.options.address);
  }

  close(graceMs: number): Promise<void> {
    this.server.closeIdleConnections();
    return closeServer(this.server, this.sockets, graceMs);
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    request.resume();
    if (checkBasicAuth(this.options.users, request.headers.authorization) === undefined) {
      send(response, 401, "text/plain; charset=utf-8", "Log in to see the homeward status page.\n", {
        "WWW-Authenticate": 'Basic realm="homeward status", charset="UTF-8"',
      });
      return;
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      send(response, 405, "text/plain; charset=utf-8", "GET only\n", { Allow: "GET, HEAD" });
      return;
    }
    const path = (request.url ?? "/").split("?")[0];
    if (path !== "/" && path !== "/status.json") {
      send(response, 404, "text/plain; charset=utf-8", "not found: try / or /status.json\n");
      return;
    }
    const summary = this.options.summary();
    const devices = this.options.board.snapshot(summary.nowMs);
    if (path === "/status.json") {
      send(response, 200, "application/json", `${JSON.stringify(statusJson(summary, devices), null, 2)}\n`);
      return;
    }
    send(response, 200, "text/html; charset=utf-8", statusHtml(summary, devices), {
      "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    });
  }
}

function send(
  response: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, {
    ...COMMON_HEADERS,
    ...headers,
    "Content-Type": contentType,
    "Content-Length": Buffer.byteLength(body),
  });
  response.end(response.req.method === "HEAD" ? undefined : body);
}
