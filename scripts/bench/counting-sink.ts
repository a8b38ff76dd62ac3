// A stand-in for the server's HTTP ingest endpoint, for benchmarks of the agent: it accepts every
// batch on any path, checks nothing, and counts lines by key id (the fourth field of a signed line),
// so several agents, each with its own key, can ship to one sink and be told apart. The same
// handler serves plain http:// and, given a certificate, https://.
import { createServer as createHttpServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

export interface CountingSink {
  /** `http://127.0.0.1:<port>` or `https://127.0.0.1:<port>`: the agent's `server.url`. */
  readonly url: string;
  /** Lines received so far under this key id. */
  lines(keyId: string): number;
  close(): void;
}

/** PEM text of the server certificate (for 127.0.0.1) and its key. */
export interface SinkCertificate {
  readonly cert: string;
  readonly key: string;
}

/** Starts a sink on a free 127.0.0.1 port: https:// with `certificate`, http:// without. */
export async function startCountingSink(certificate?: SinkCertificate): Promise<CountingSink> {
  const received = new Map<string, number>();
  const accept = (request: IncomingMessage, response: ServerResponse): void => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const raw = Buffer.concat(chunks);
      const body = request.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
      const lines = body
        .toString("utf8")
        .split("\n")
        .filter((line) => line.length > 0);
      for (const line of lines) {
        const key = line.split(" ")[3] ?? "";
        received.set(key, (received.get(key) ?? 0) + 1);
      }
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ accepted: lines.length, rejected: {}, errors: [] }));
    });
  };
  const server =
    certificate === undefined
      ? createHttpServer(accept)
      : createHttpsServer({ cert: certificate.cert, key: certificate.key }, accept);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const scheme = certificate === undefined ? "http" : "https";
  return {
    url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    lines: (keyId) => received.get(keyId) ?? 0,
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}
