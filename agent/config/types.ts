import type { ThrottledSourceSetting } from "../../hardware/throttled.ts";
import type { SyncCheckMode } from "../clock/sync-check.ts";
import type { DnsCheck, HttpTarget, PingTarget, TcpTarget } from "../collectors/net.ts";
import type { DnsRecordType } from "../collectors/net-probes.ts";

/**
 * The agent's config file as written (snake_case, optional keys, durations as text). The JSON
 * schema in schema.ts is the authority; this type mirrors it. README.md documents every key.
 */
export interface AgentConfigFile {
  $schema?: string;
  device: string;
  prefix?: string;
  key_file: string;
  server: {
    url: string;
    transport?: ServerTransport;
    ca_file?: string;
    pin_sha256?: string | string[];
    timeout?: string;
    lines_per_second?: number;
  };
  buffer?: { max_bytes?: number };
  clock?: {
    sync_check?: SyncCheckMode;
    root?: string;
    max_hold?: string;
    max_held_readings?: number;
    poll?: string;
  };
  log?: { level?: LogLevel };
  collect?: {
    system?: CollectorSection & { root?: string; mounts?: string[]; interfaces?: string[] };
    pi?: CollectorSection & {
      root?: string;
      throttled?: ThrottledSourceSetting;
      w1?: boolean;
      w1_names?: Record<string, string>;
    };
    net?: CollectorSection & {
      root?: string;
      probe_timeout?: string;
      ping_count?: number;
      concurrency?: number;
      ping?: (string | { host: string; label?: string })[];
      tcp?: (string | { host: string; port: number; label?: string })[];
      dns?: { name: string; resolver?: string; type?: DnsRecordType; label?: string }[];
      http?: (string | { url: string; label?: string })[];
      gateway?: boolean;
      wifi?: boolean;
    };
    exec?: {
      name: string;
      command: string[];
      schedule?: string;
      timeout?: string;
      env?: Record<string, string>;
      max_output_bytes?: number;
    }[];
    self?: CollectorSection;
  };
  /** The owner's broker and key: signed remote control and presence (agent/control/README.md). */
  control?: ControlSection;
  /** The MQTT sensor input: the home's local broker (agent/collectors/README.md, mqtt). */
  mqtt?: MqttInputSection;
}

/** How to reach a broker. The URL carries no credentials. */
export interface BrokerConnectionSection {
  url: string;
  username?: string;
  password?: string;
  ca_file?: string;
  client_id?: string;
  keepalive?: string;
}

export interface ControlSection extends BrokerConnectionSection {
  enabled?: boolean;
  /** base64 Ed25519 public key(s) of the owner's control key; a list while rotating. */
  owner_public_key: string | string[];
  topic_prefix?: string;
  max_skew?: string;
  status_interval?: string;
}

export interface MqttInputSection extends BrokerConnectionSection {
  enabled?: boolean;
  schedule?: string;
  subscriptions: MqttSubscriptionSection[];
}

export interface MqttSubscriptionSection {
  topic: string;
  name?: string;
  fields?: "all" | string[] | Record<string, string>;
}

interface CollectorSection {
  enabled?: boolean;
  schedule?: string;
  timeout?: string;
}

export type ServerTransport = "https" | "http" | "tcp" | "tls" | "mqtt" | "mqtts";
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

/** The config the agent runs on: file + overrides, validated, every default filled in. */
export interface AgentConfig {
  readonly device: string;
  /** `homeward.<device>` unless set. */
  readonly prefix: string;
  readonly keyFile: string;
  readonly server: {
    readonly url: string;
    /** From the URL's scheme (`https://`, `http://`, `tcp://`, `tls://`, `mqtt://`, `mqtts://`). */
    readonly transport: ServerTransport;
    readonly caFile: string | undefined;
    /** base64 SHA-256 of the server certificate's public key (SPKI); any one may match. */
    readonly pinSha256: readonly string[];
    readonly timeoutMs: number;
    /** The rate the server allows this key (its auth entry's `rate`); the shipper's default if unset. */
    readonly linesPerSecond: number | undefined;
  };
  readonly buffer: { readonly maxBytes: number };
  readonly clock: {
    readonly syncCheck: SyncCheckMode;
    /** Where the sync check looks for timesyncd's flag file and /run/systemd (`/`; a fixture tree in tests). */
    readonly root: string;
    readonly maxHoldMs: number;
    readonly maxHeldReadings: number;
    readonly pollMs: number;
  };
  readonly log: { readonly level: LogLevel };
  readonly collect: {
    readonly system: ResolvedSection & {
      readonly root: string;
      readonly mounts: readonly string[] | undefined;
      readonly interfaces: readonly string[] | undefined;
    };
    readonly pi: ResolvedSection & {
      readonly root: string;
      readonly throttled: ThrottledSourceSetting;
      readonly w1: boolean;
      readonly w1Names: Readonly<Record<string, string>>;
    };
    readonly net: ResolvedSection & {
      readonly root: string;
      readonly probeTimeoutMs: number;
      readonly pingCount: number;
      readonly concurrency: number;
      readonly ping: readonly PingTarget[];
      readonly tcp: readonly TcpTarget[];
      readonly dns: readonly DnsCheck[];
      readonly http: readonly HttpTarget[];
      readonly gateway: boolean;
      readonly wifi: boolean;
    };
    readonly exec: readonly {
      readonly name: string;
      readonly command: readonly string[];
      readonly schedule: string;
      readonly timeoutMs: number;
      readonly env: Readonly<Record<string, string>> | undefined;
      readonly maxOutputBytes: number;
    }[];
    readonly self: ResolvedSection;
  };
  /** As written (`{}` when absent); agent/control/settings.ts resolves it. */
  readonly control: Readonly<Partial<ControlSection>>;
  /** As written (`{}` when absent); agent/collectors/mqtt.ts resolves it. */
  readonly mqtt: Readonly<Partial<MqttInputSection>>;
}

interface ResolvedSection {
  readonly enabled: boolean;
  readonly schedule: string;
  readonly timeoutMs: number;
}
