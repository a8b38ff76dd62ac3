import { parseDuration } from "../../protocol/duration.ts";
import { DEFAULT_CONTROL_SKEW_MS, DEFAULT_TOPIC_PREFIX } from "../../protocol/control-message.ts";
import type { AgentConfig, BrokerConnectionSection } from "../config/types.ts";

/** How to reach one broker: the owner's (control, the mqtt transport) or the home's (mqtt input). */
export interface BrokerSettings {
  /** `mqtt://host[:port]` or `mqtts://host[:port]`, without credentials. */
  readonly url: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** PEM file of the CA to trust instead of the system's, for mqtts://. */
  readonly caFile: string | undefined;
  readonly clientId: string;
  readonly keepaliveSeconds: number;
}

export interface ControlSettings {
  readonly device: string;
  readonly broker: BrokerSettings;
  /** base64 Ed25519 public keys; a message verified by any one is the owner's. */
  readonly ownerPublicKeys: readonly string[];
  readonly topicPrefix: string;
  readonly maxSkewMs: number;
  /** How often the retained online status is refreshed. */
  readonly statusIntervalMs: number;
}

export const CONTROL_DEFAULTS = {
  keepalive: "60s",
  statusInterval: "60s",
} as const;

/** Client ids on the owner's broker: one per connection, stable so the broker keeps the session. */
export function controlClientId(device: string): string {
  return `homeward-${device}`;
}

export function resolveBroker(section: BrokerConnectionSection, defaultClientId: string): BrokerSettings {
  return {
    url: section.url,
    username: section.username,
    password: section.password,
    caFile: section.ca_file,
    clientId: section.client_id ?? defaultClientId,
    keepaliveSeconds: Math.max(
      1,
      Math.round(parseDuration(section.keepalive ?? CONTROL_DEFAULTS.keepalive) / 1000),
    ),
  };
}

/**
 * The control channel's settings, or undefined when the config has no (enabled) `control` section.
 * The config must already be valid (the schema checked every key).
 */
export function controlSettings(config: AgentConfig): ControlSettings | undefined {
  const control = config.control;
  if (control.url === undefined || control.owner_public_key === undefined || control.enabled === false) {
    return undefined;
  }
  const keys = control.owner_public_key;
  return {
    device: config.device,
    broker: resolveBroker({ ...control, url: control.url }, controlClientId(config.device)),
    ownerPublicKeys: typeof keys === "string" ? [keys] : [...keys],
    topicPrefix: control.topic_prefix ?? DEFAULT_TOPIC_PREFIX,
    maxSkewMs: control.max_skew === undefined ? DEFAULT_CONTROL_SKEW_MS : parseDuration(control.max_skew),
    statusIntervalMs: parseDuration(control.status_interval ?? CONTROL_DEFAULTS.statusInterval),
  };
}

/** What the mqtt transport needs beyond `server.url`: pass it as `TransportOptions.mqtt`. */
export interface MqttTransportSettings {
  /** The topic is `<topicPrefix>/<device>/lines`. */
  readonly device: string;
  readonly topicPrefix?: string;
  readonly username?: string;
  readonly password?: string;
  /** Used when `server.ca_file` is not set. */
  readonly caFile?: string;
  readonly clientId?: string;
  readonly keepaliveSeconds?: number;
}

/**
 * For a `server.url` of mqtt:// or mqtts://: the device's account on the owner's broker is the one
 * in the `control` section (username, password, CA, topic prefix); the transport connects with its
 * own client id, `homeward-<device>-lines`.
 */
export function mqttTransportSettings(config: AgentConfig): MqttTransportSettings {
  const control = config.control;
  return {
    device: config.device,
    topicPrefix: control.topic_prefix ?? DEFAULT_TOPIC_PREFIX,
    ...(control.username !== undefined && { username: control.username }),
    ...(control.password !== undefined && { password: control.password }),
    ...(control.ca_file !== undefined && { caFile: control.ca_file }),
    clientId: `${controlClientId(config.device)}-lines`,
  };
}
