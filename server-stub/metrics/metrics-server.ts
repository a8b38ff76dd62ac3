import { createServer } from "node:http";
import type { Server } from "node:http";
import type { Registry } from "prom-client";

export interface Health {
  readonly ok: boolean;
  readonly detail: Record<string, unknown>;
}

/** GET /metrics (Prometheus text) and GET /healthz (JSON; 503 when not healthy) on --metrics-addr. */
export function createMetricsServer(registry: Registry, health: () => Health): Server {
  return createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { Allow: "GET" }).end();
      return;
    }
    if (path === "/metrics") {
      registry.metrics().then(
        (text) => response.writeHead(200, { "Content-Type": registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
      return;
    }
    if (path === "/healthz") {
      const state = health();
      response
        .writeHead(state.ok ? 200 : 503, { "Content-Type": "application/json" })
        .end(JSON.stringify({ status: state.ok ? "ok" : "unhealthy", ...state.detail }));
      return;
    }
    response.writeHead(404).end();
  });
}
