import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { closeServer, listenOn } from "./server-lifecycle.ts";
import type { ListenAddress } from "./listen-address.ts";
import { admitConnection } from "./listener.ts";
import type { Listener, ListenerContext } from "./listener.ts";
import { serveLines } from "./line-stream.ts";

/** The plaintext line protocol, as amproxy's --addr. */
export class TcpListener implements Listener {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly address: ListenAddress,
    context: ListenerContext,
  ) {
    this.server = createServer({ allowHalfOpen: true }, (socket) => {
      const source = admitConnection(socket, context);
      if (source === undefined) return;
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
      serveLines(socket, source, context);
    });
  }

  start(): Promise<ListenAddress> {
    return listenOn(this.server, this.address);
  }

  close(graceMs: number): Promise<void> {
    return closeServer(this.server, this.sockets, graceMs);
  }
}
