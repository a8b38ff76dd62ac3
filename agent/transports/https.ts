import type { Agent, ClientRequest, IncomingMessage, RequestOptions } from "node:http";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { INGEST_PATH } from "../../protocol/ingest-api.ts";
import { loadBuiltin } from "../run/lazy-builtin.ts";
import { outcomeForIngestResponse } from "./ingest-outcome.ts";
import type { IngestResponse } from "./ingest-outcome.ts";
import { describeNetworkError, isTrustError } from "./network-error.ts";
import { serverTrust, tlsTrustOptions } from "./server-identity.ts";
import type { ServerTrust, ServerTrustOptions } from "./server-identity.ts";
import { TransportOptionsError } from "./transport.ts";
import type { SendOutcome, Transport } from "./transport.ts";

const gzipAsync = promisify(gzip);

export const DEFAULT_HTTPS_TIMEOUT_MS = 30_000;
/** A reply is a small JSON object; anything much bigger is not our server talking. */
const MAX_REPLY_BYTES = 64 * 1024;

export interface HttpsTransportOptions extends ServerTrustOptions {
  /**
   * The server's base URL, e.g. "https://metrics.example.org" or "https://host:2443/homeward";
   * lines go to `<url>/v1/lines`. http:// works too (lines are signed, but not private).
   */
  readonly url: string;
  /** The whole request, connect to last reply byte (default 30 s). */
  readonly timeoutMs?: number;
  /** The wall clock, for Retry-After dates. */
  readonly now?: () => number;
}

export class HttpsTransport implements Transport {
  readonly target: string;
  readonly host: string;
  private readonly url: URL;
  /** The CA and pins, checked when the transport is made; undefined for http://. */
  private readonly trust: ServerTrust | undefined;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private client: Promise<HttpClient> | undefined;

  constructor(options: HttpsTransportOptions) {
    this.url = ingestUrl(options.url);
    this.target = this.url.href;
    this.host = this.url.hostname;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_HTTPS_TIMEOUT_MS;
    this.now = options.now ?? Date.now;
    this.trust = this.url.protocol === "https:" ? serverTrust(options) : undefined;
  }

  async send(lines: readonly string[]): Promise<SendOutcome> {
    const body = await gzipAsync(`${lines.join("\n")}\n`);
    this.client ??= loadHttpClient(this.trust);
    const client = await this.client;
    try {
      return await this.post(client, body, lines.length);
    } catch (error) {
      if ((error as StaleSocketError).staleSocket) {
        // The server closed an idle kept-alive socket as we reused it: no reply was possible, so
        // sending again on a fresh connection right away is safe and saves a backoff.
        try {
          return await this.post(client, body, lines.length);
        } catch (again) {
          return this.failure(again);
        }
      }
      return this.failure(error);
    }
  }

  async close(): Promise<void> {
    (await this.client)?.agent.destroy();
  }

  private failure(error: unknown): SendOutcome {
    const untrusted = isTrustError(error);
    const why = `${untrusted ? "did not trust" : "could not reach"} ${this.host} (${describeNetworkError(error)})`;
    return untrusted ? { kind: "fatal", why } : { kind: "retry", why };
  }

  private post(client: HttpClient, body: Buffer, lineCount: number): Promise<SendOutcome> {
    return new Promise((resolve, reject) => {
      const request: ClientRequest = client.request(this.url, {
        method: "POST",
        agent: client.agent,
        headers: {
          "content-type": "text/plain; charset=utf-8",
          "content-encoding": "gzip",
          "content-length": body.length,
        },
      });
      const timer = setTimeout(() => {
        request.destroy(
          Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: "ETIMEDOUT" }),
        );
      }, this.timeoutMs);
      // `on`, not `once`: a request can emit a second error (a timeout after a reset), and an
      // unheard error event would crash the agent.
      request.on("error", (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const stale = request.reusedSocket && (error.code === "ECONNRESET" || error.code === "EPIPE");
        reject(stale ? Object.assign(error, { staleSocket: true }) : error);
      });
      request.once("response", (response: IncomingMessage) => {
        readBody(response).then(
          (text) => {
            clearTimeout(timer);
            const reply: IngestResponse = {
              status: response.statusCode ?? 0,
              body: text,
              ...optionalHeader("retryAfter", response.headers["retry-after"]),
              ...optionalHeader("location", response.headers.location),
            };
            resolve(outcomeForIngestResponse(reply, lineCount, this.now()));
          },
          (error: unknown) => {
            clearTimeout(timer);
            reject(error);
          },
        );
      });
      request.end(body);
    });
  }
}

/** node:http's or node:https's request, and the one kept-alive agent it goes through. */
interface HttpClient {
  readonly agent: Agent;
  request(url: URL, options: RequestOptions): ClientRequest;
}

/**
 * node:https (and with it node:tls) for a server with `trust`, else node:http, imported at the
 * first send rather than at start: an agent shipping over http:// never loads TLS.
 */
async function loadHttpClient(trust: ServerTrust | undefined): Promise<HttpClient> {
  // One socket, kept alive between batches: a TLS handshake costs a Pi more than a batch does.
  const agentOptions = { keepAlive: true, maxSockets: 1 };
  if (trust === undefined) {
    const http = await loadBuiltin("node:http");
    return { agent: new http.Agent(agentOptions), request: http.request };
  }
  const [https, tlsOptions] = await Promise.all([loadBuiltin("node:https"), tlsTrustOptions(trust)]);
  return { agent: new https.Agent({ ...agentOptions, ...tlsOptions }), request: https.request };
}

interface StaleSocketError {
  staleSocket?: boolean;
}

function optionalHeader<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

/** The body as text, keeping at most MAX_REPLY_BYTES (the rest is drained, so the socket can be reused). */
function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    response.on("data", (chunk: Buffer) => {
      if (kept >= MAX_REPLY_BYTES) return;
      chunks.push(chunk);
      kept += chunk.length;
    });
    response.once("end", () => resolve(Buffer.concat(chunks).subarray(0, MAX_REPLY_BYTES).toString("utf8")));
    response.on("error", reject);
    response.once("close", () => {
      if (!response.complete)
        reject(Object.assign(new Error("the reply was cut off"), { code: "ECONNRESET" }));
    });
  });
}

export function ingestUrl(base: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new TransportOptionsError(`server url "${base}" is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new TransportOptionsError(`server url "${base}" must start with https:// (or http://)`);
  }
  url.pathname = `${url.pathname.replace(/\/+$/, "")}${INGEST_PATH}`;
  url.search = "";
  url.hash = "";
  return url;
}
