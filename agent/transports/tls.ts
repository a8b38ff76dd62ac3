import { isIP } from "node:net";
import type { Socket } from "node:net";
import { loadBuiltin } from "../run/lazy-builtin.ts";
import { LineStreamTransport } from "./line-stream.ts";
import { serverTrust, tlsTrustOptions } from "./server-identity.ts";
import type { ServerTrustOptions, TlsTrustOptions } from "./server-identity.ts";
import type { Transport } from "./transport.ts";

export interface TlsTransportOptions extends ServerTrustOptions {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs?: number;
  readonly maxLineBytes?: number;
}

/** amproxy's line protocol inside TLS; the server is checked as for https (CA file, pins). */
export function createTlsTransport(options: TlsTransportOptions): Transport {
  const { host, port } = options;
  // Read the CA file and check the pins once, at start, so a mistake shows up before any send.
  const trust = serverTrust(options);
  let trustOptions: Promise<TlsTrustOptions> | undefined;
  return new LineStreamTransport({
    host,
    target: `tls://${host}:${port}`,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.maxLineBytes === undefined ? {} : { maxLineBytes: options.maxLineBytes }),
    connector: {
      readyEvent: "secureConnect",
      // node:tls is loaded at the first connection, not when the agent starts.
      async connect(): Promise<Socket> {
        trustOptions ??= tlsTrustOptions(trust);
        const [{ connect }, tlsOptions] = await Promise.all([loadBuiltin("node:tls"), trustOptions]);
        // SNI takes names only; with an IP address the certificate is checked against its IP SANs.
        return connect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ...tlsOptions });
      },
    },
  });
}
