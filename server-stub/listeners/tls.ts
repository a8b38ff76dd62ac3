import { createServer } from "node:tls";
import type { Server, TLSSocket } from "node:tls";
import type { Socket } from "node:net";
import { closeServer, listenOn } from "./server-lifecycle.ts";
import { sourceAddress } from "./listen-address.ts";
import type { ListenAddress } from "./listen-address.ts";
import { admitConnection } from "./listener.ts";
import type { Listener, ListenerContext } from "./listener.ts";
import { serveLines } from "./line-stream.ts";
import type { TlsCredentials } from "./tls-credentials.ts";

const HANDSHAKE_TIMEOUT_MS = 10_000;

/** The line protocol over TLS, optionally requiring a client certificate. */
export class TlsListener implements Listener {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly address: ListenAddress,
    context: ListenerContext,
    credentials: TlsCredentials,
  ) {
    this.server = createServer({
      ...credentials.current,
      requestCert: credentials.requireClientCert,
      rejectUnauthorized: credentials.requireClientCert,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      allowHalfOpen: true,
    });
    credentials.onReload((options) => this.server.setSecureContext(options));
    // Limits apply to the raw connection, before the handshake's cost is paid.
    this.server.on("connection", (socket: Socket) => {
      const source = admitConnection(socket, context);
      if (source === undefined) return;
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    this.server.on("secureConnection", (socket: TLSSocket) => {
      const source = sourceAddress(socket.remoteAddress);
      socket.on("error", () => undefined);
      serveLines(socket, source, context);
    });
    this.server.on("tlsClientError", (error) =>
      context.log.debug({ error: error.message }, "TLS handshake failed"),
    );
  }

  start(): Promise<ListenAddress> {
    return listenOn(this.server, this.address);
  }

  close(graceMs: number): Promise<void> {
    return closeServer(this.server, this.sockets, graceMs);
  }
}
