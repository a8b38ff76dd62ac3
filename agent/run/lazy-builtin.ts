import type * as dnsPromises from "node:dns/promises";
import type * as http from "node:http";
import type * as https from "node:https";
import type * as tls from "node:tls";

/** The builtins the agent loads only when its config needs them. */
interface LazyBuiltins {
  "node:dns/promises": typeof dnsPromises;
  "node:http": typeof http;
  "node:https": typeof https;
  "node:tls": typeof tls;
}

type GetBuiltinModule = <Id extends keyof LazyBuiltins>(id: Id) => LazyBuiltins[Id];

/**
 * A builtin loaded at its first use rather than at start: an agent shipping over http:// or tcp://
 * with the default collectors never loads node:tls, node:https or node:dns/promises (2.7 MiB of
 * steady RSS on Node 24; BENCHMARKS.md, "Agent").
 *
 * Through process.getBuiltinModule (Node 20.16, 22.3), not import(): esbuild keeps an import() of
 * a builtin as it is in the CommonJS bundle, where it starts Node's ESM loader, and the single
 * binary compiles its bundle with no import() support at all. Older Node 20 releases use import().
 */
export async function loadBuiltin<Id extends keyof LazyBuiltins>(id: Id): Promise<LazyBuiltins[Id]> {
  const node = process as { getBuiltinModule?: GetBuiltinModule };
  if (node.getBuiltinModule !== undefined) return node.getBuiltinModule(id);
  return (await import(id)) as LazyBuiltins[Id];
}
