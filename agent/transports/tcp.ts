import { connect } from "node:net";
import { LineStreamTransport } from "./line-stream.ts";
import type { Transport } from "./transport.ts";

export interface TcpTransportOptions {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs?: number;
  readonly maxLineBytes?: number;
}

/** amproxy's plaintext line protocol (port 2005 by default on the server). */
export function createTcpTransport(options: TcpTransportOptions): Transport {
  const { host, port } = options;
  return new LineStreamTransport({
    ...options,
    target: `tcp://${host}:${port}`,
    connector: { readyEvent: "connect", connect: async () => connect({ host, port }) },
  });
}
