import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { LOOPBACK } from "../../test/harness/free-port.ts";

/**
 * Stands in for Carbon's plaintext receiver where Graphite is not installed: takes the lines the
 * server forwards on 127.0.0.1 and prints each one, so the demo still shows what would be stored.
 */
export interface LinePrinter {
  readonly port: number;
  /** Lines received so far. */
  readonly count: () => number;
  close(): Promise<void>;
}

export async function startLinePrinter(print: (line: string) => void): Promise<LinePrinter> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let pending = "";
    socket.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (line.length === 0) continue;
        count++;
        print(line);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: LOOPBACK, port: 0 }, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    port,
    count: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
