import type { MqttTransportSettings } from "../control/settings.ts";
import { HttpsTransport } from "./https.ts";
import { MqttTransport } from "./mqtt.ts";
import type { ServerTrustOptions } from "./server-identity.ts";
import { createTcpTransport } from "./tcp.ts";
import { createTlsTransport } from "./tls.ts";
import { TransportOptionsError } from "./transport.ts";
import type { Transport } from "./transport.ts";

export { TransportOptionsError } from "./transport.ts";
export type { SendOutcome, Transport } from "./transport.ts";

/** Everything any transport takes; which transport is picked by the URL's scheme. */
export interface TransportOptions extends ServerTrustOptions {
  /**
   * `https://metrics.example.org` (the default transport; `http://` also works),
   * `tcp://metrics.example.org:2005` or `tls://metrics.example.org:2006`.
   */
  readonly url: string;
  /** https: the whole request; tcp/tls: connecting, and writing one batch. */
  readonly timeoutMs?: number;
  /** tcp/tls/mqtt: longest line sent (default 1024 bytes, the server's cap). */
  readonly maxLineBytes?: number;
  /**
   * mqtt/mqtts: the device (its topic is `homeward/<device>/lines`) and its broker account;
   * `mqttTransportSettings(config)` in agent/control/settings.ts builds it from the config.
   */
  readonly mqtt?: MqttTransportSettings;
}

export function createTransport(options: TransportOptions): Transport {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(options.url)?.[1]?.toLowerCase();
  if (scheme === "https" || scheme === "http") return new HttpsTransport(options);
  if (scheme === "tcp" || scheme === "tls") {
    const { host, port } = hostAndPort(options.url);
    const settings = { ...options, host, port };
    return scheme === "tcp" ? createTcpTransport(settings) : createTlsTransport(settings);
  }
  if (scheme === "mqtt" || scheme === "mqtts") {
    if (options.mqtt === undefined) {
      throw new TransportOptionsError(
        `server url "${options.url}": the mqtt transport needs the device name and its broker account (TransportOptions.mqtt)`,
      );
    }
    return new MqttTransport({ ...options, settings: options.mqtt });
  }
  throw new TransportOptionsError(
    `server url "${options.url}" must start with https://, tcp://, tls://, mqtt:// or mqtts:// (e.g. https://metrics.example.org)`,
  );
}

function hostAndPort(text: string): { host: string; port: number } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TransportOptionsError(`server url "${text}" is not a URL`);
  }
  if (url.port === "")
    throw new TransportOptionsError(`server url "${text}" needs a port, e.g. ${url.protocol}//host:2005`);
  // URL keeps IPv6 literals in brackets; sockets want them bare.
  return { host: url.hostname.replace(/^\[(.*)\]$/, "$1"), port: Number(url.port) };
}
