export type ListenScheme = "tcp" | "tls" | "http" | "https";
export const LISTEN_SCHEMES: readonly ListenScheme[] = ["tcp", "tls", "http", "https"];

export interface ListenAddress {
  readonly scheme: ListenScheme;
  readonly host: string;
  readonly port: number;
}

export class ListenAddressError extends Error {
  override readonly name = "ListenAddressError";
}

/** `host:port` or `[v6]:port`, as amproxy's --addr and --carbon-addr take them. */
export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port > 65535) {
    throw new ListenAddressError(`${what} "${text}": expected host:port, e.g. 127.0.0.1:2005`);
  }
  const host = match[1] ?? match[2] ?? "";
  // Go's net.Listen takes ":2005" as every interface.
  return { host: host === "" ? "0.0.0.0" : host, port };
}

/** `tcp://127.0.0.1:2005`, `tls://0.0.0.0:2006`, `https://0.0.0.0:2443`, `http://…`, or a bare host:port (tcp). */
export function parseListenAddress(text: string): ListenAddress {
  const schemeMatch = /^([a-z]+):\/\/(.*)$/.exec(text);
  const scheme = (schemeMatch?.[1] ?? "tcp") as ListenScheme;
  if (!LISTEN_SCHEMES.includes(scheme)) {
    throw new ListenAddressError(
      `--listen "${text}": the scheme must be one of ${LISTEN_SCHEMES.join(", ")}`,
    );
  }
  const rest = (schemeMatch?.[2] ?? text).replace(/\/$/, "");
  return { scheme, ...parseHostPort(rest, "--listen") };
}

export function formatListenAddress(address: ListenAddress): string {
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  return `${address.scheme}://${host}:${address.port}`;
}

/** The client's address as the limits key it: IPv4-mapped IPv6 becomes plain IPv4. */
export function sourceAddress(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return "unknown";
  return remoteAddress.startsWith("::ffff:") ? remoteAddress.slice(7) : remoteAddress;
}
