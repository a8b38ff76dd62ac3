import { isIP } from "node:net";

/** Host, address and URL checks shared by the schema's formats and the resolver. */

const HOSTNAME =
  /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export function isHostname(text: string): boolean {
  return HOSTNAME.test(text);
}

export function isHostnameOrIp(text: string): boolean {
  return isIP(text) !== 0 || isHostname(text);
}

/** `host:port` or `[v6]:port` → parts; undefined if malformed. */
export function splitHostPort(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const host = (match[1] ?? match[2]) as string;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  if (match[1] !== undefined ? isIP(host) !== 6 : !isHostnameOrIp(host)) return undefined;
  return { host, port };
}

export function isDnsServer(text: string): boolean {
  if (isIP(text) !== 0) return true;
  const parts = splitHostPort(text);
  return parts !== undefined && isIP(parts.host) !== 0;
}

export function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname.length > 0;
  } catch {
    return false;
  }
}

export const SERVER_SCHEMES = ["https:", "http:", "tcp:", "tls:"] as const;

export function isServerUrl(text: string): boolean {
  try {
    const url = new URL(text);
    if (!(SERVER_SCHEMES as readonly string[]).includes(url.protocol) || url.hostname.length === 0)
      return false;
    // The line protocol has no default port.
    return url.protocol === "https:" || url.protocol === "http:" || url.port !== "";
  } catch {
    return false;
  }
}
