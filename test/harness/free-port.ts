import { createServer, type Server } from "node:net";

export const LOOPBACK = "127.0.0.1";

function listenOnAnyPort(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error(`freePort: unexpected listener address ${String(address)}`));
        return;
      }
      resolve({ server, port: address.port });
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago: the kernel picks it for a listener on port 0,
 * which is closed again before returning. Another process may still take it before the caller binds
 * it, so a service started on it should be retried on a fresh port when binding fails.
 */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error("freePort: no port");
  return port;
}

/** `count` distinct free ports: the listeners are held open together, so no two can coincide. */
export async function freePorts(count: number): Promise<number[]> {
  const listeners: { server: Server; port: number }[] = [];
  try {
    for (let i = 0; i < count; i++) listeners.push(await listenOnAnyPort());
  } finally {
    await Promise.all(listeners.map(({ server }) => close(server)));
  }
  return listeners.map(({ port }) => port);
}
