import { createServer as createTcpServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";

export interface LineTestServer {
  readonly port: number;
  /** Every byte received, per connection, in order. */
  readonly received: string[];
  connections(): number;
  /** All bytes received so far, across connections. */
  text(): string;
  /** Drops every open connection, as a server that restarts does. */
  dropConnections(): void;
  close(): Promise<void>;
}

/** A line-protocol listener on 127.0.0.1 (plain or TLS) that records what it receives. */
export async function startLineServer(
  tls?: { cert: Buffer; key: Buffer },
  port = 0,
): Promise<LineTestServer> {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const onSocket = (socket: Socket): void => {
    const index = received.push("") - 1;
    sockets.add(socket);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received[index] += chunk;
    });
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  };
  const server: Server = tls
    ? createTlsServer({ cert: tls.cert, key: tls.key }, onSocket)
    : createTcpServer(onSocket);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    received,
    connections: () => received.length,
    text: () => received.join(""),
    dropConnections: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
