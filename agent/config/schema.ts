/**
 * The JSON schema (2020-12) of the agent's config file. Formats and the `expected` annotation are
 * registered in validate.ts; `expected` is the phrase an error message uses for that node
 * ("expected a hostname or IP address").
 */

const duration = { type: "string", format: "duration" } as const;
const schedule = { type: "string", format: "cron" } as const;
const root = { type: "string", minLength: 1, expected: "a directory path" } as const;
const label = {
  type: "string",
  pattern: "^[A-Za-z0-9_:-]{1,64}$",
  expected: "a metric segment: letters, digits, _ : - (no dots)",
} as const;
const stringList = { type: "array", items: { type: "string", minLength: 1 } } as const;
const collectorCommon = {
  enabled: { type: "boolean" },
  schedule,
  timeout: duration,
} as const;

const pingTarget = {
  if: { type: "string" },
  then: { type: "string", format: "hostname-or-ip" },
  else: {
    type: "object",
    expected: 'a hostname or IP address, or {"host": ..., "label": ...}',
    required: ["host"],
    additionalProperties: false,
    properties: { host: { type: "string", format: "hostname-or-ip" }, label },
  },
} as const;

const tcpTarget = {
  if: { type: "string" },
  then: { type: "string", format: "host-port" },
  else: {
    type: "object",
    expected: '"host:port", or {"host": ..., "port": ..., "label": ...}',
    required: ["host", "port"],
    additionalProperties: false,
    properties: {
      host: { type: "string", format: "hostname-or-ip" },
      port: { type: "integer", minimum: 1, maximum: 65535 },
      label,
    },
  },
} as const;

const httpTarget = {
  if: { type: "string" },
  then: { type: "string", format: "http-url" },
  else: {
    type: "object",
    expected: 'an http(s) URL, or {"url": ..., "label": ...}',
    required: ["url"],
    additionalProperties: false,
    properties: { url: { type: "string", format: "http-url" }, label },
  },
} as const;

/** The owner's broker (control) and the home's local broker (mqtt input). No credentials in the URL. */
const mqttUrl = {
  type: "string",
  pattern: "^mqtts?://(?:\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?/?$",
  expected: "an mqtt:// or mqtts:// URL without credentials: mqtts://broker.example.org:8883",
} as const;
const brokerConnection = {
  url: mqttUrl,
  username: { type: "string", minLength: 1 },
  password: { type: "string" },
  ca_file: { type: "string", minLength: 1, expected: "the path of a PEM file of the broker's CA" },
  client_id: {
    type: "string",
    pattern: "^[A-Za-z0-9_.:-]{1,64}$",
    expected: "an MQTT client id: 1-64 letters, digits, _ . : -",
  },
  keepalive: duration,
} as const;
const ed25519PublicKey = {
  type: "string",
  pattern: "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$",
  expected: "an ed25519 public key: 44 characters of base64 (homeward keygen prints it)",
} as const;
const metricPath = {
  type: "string",
  pattern: "^[A-Za-z0-9_:-]{1,64}(?:\\.[A-Za-z0-9_:-]{1,64})*$",
  expected: "a metric path: segments of letters, digits, _ : - joined by dots",
} as const;
const mqttSubscription = {
  type: "object",
  required: ["topic"],
  additionalProperties: false,
  properties: {
    topic: {
      type: "string",
      pattern: "^(?:#|(?:[^+#/$][^+#/]*|\\+|)(?:/(?:[^+#/]*|\\+))*(?:/#)?)$",
      minLength: 1,
      maxLength: 256,
      expected: "an MQTT topic filter such as tele/+/SENSOR (+ and # only as whole levels)",
    },
    name: metricPath,
    fields: {
      if: { type: "string" },
      then: { enum: ["all"] },
      else: {
        if: { type: "array" },
        then: { type: "array", minItems: 1, items: metricPath },
        else: {
          type: "object",
          expected: '"all", a list of dotted JSON paths, or {"<dotted path>": "<metric name>"}',
          propertyNames: { minLength: 1 },
          additionalProperties: metricPath,
        },
      },
    },
  },
} as const;

const dnsCheck = {
  type: "object",
  required: ["name"],
  additionalProperties: false,
  properties: {
    name: { type: "string", format: "hostname" },
    resolver: { type: "string", format: "dns-server" },
    type: { enum: ["A", "AAAA"] },
    label,
  },
} as const;

export const AGENT_CONFIG_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://homeward.invalid/schemas/agent.json",
  type: "object",
  required: ["device", "key_file", "server"],
  additionalProperties: false,
  properties: {
    $schema: { type: "string" },
    device: {
      type: "string",
      pattern: "^[A-Za-z0-9_-]{1,64}$",
      expected: "a device name: 1-64 letters, digits, _ or -",
    },
    prefix: {
      type: "string",
      pattern: "^[A-Za-z0-9_:-]+(?:\\.[A-Za-z0-9_:-]+)*$",
      maxLength: 200,
      expected: "a Graphite path: segments of letters, digits, _ : - joined by dots",
    },
    key_file: { type: "string", minLength: 1, expected: "the path of the device key file" },
    server: {
      type: "object",
      required: ["url"],
      additionalProperties: false,
      properties: {
        url: {
          if: { type: "string", pattern: "^mqtts?:" },
          then: mqttUrl,
          else: { type: "string", format: "server-url" },
        },
        transport: { enum: ["https", "http", "tcp", "tls", "mqtt", "mqtts"] },
        ca_file: { type: "string", minLength: 1 },
        pin_sha256: {
          if: { type: "string" },
          then: { type: "string", format: "sha256-base64" },
          else: { type: "array", minItems: 1, items: { type: "string", format: "sha256-base64" } },
        },
        timeout: duration,
        lines_per_second: { type: "integer", minimum: 1 },
      },
    },
    buffer: {
      type: "object",
      additionalProperties: false,
      properties: {
        max_bytes: {
          type: "integer",
          minimum: 1048576,
          expected: "a size in bytes, at least 1048576 (1 MiB)",
        },
      },
    },
    clock: {
      type: "object",
      additionalProperties: false,
      properties: {
        sync_check: { enum: ["auto", "timesyncd", "timedatectl", "none"] },
        root,
        max_hold: duration,
        max_held_readings: { type: "integer", minimum: 0 },
        poll: duration,
      },
    },
    log: {
      type: "object",
      additionalProperties: false,
      properties: { level: { enum: ["trace", "debug", "info", "warn", "error"] } },
    },
    collect: {
      type: "object",
      additionalProperties: false,
      properties: {
        system: {
          type: "object",
          additionalProperties: false,
          properties: { ...collectorCommon, root, mounts: stringList, interfaces: stringList },
        },
        pi: {
          type: "object",
          additionalProperties: false,
          properties: {
            ...collectorCommon,
            root,
            throttled: { enum: ["auto", "vcgencmd", "sysfs", "hwmon", "off"] },
            w1: { type: "boolean" },
            w1_names: {
              type: "object",
              propertyNames: {
                pattern: "^[0-9a-fA-F]{2}-[0-9a-fA-F]+$",
                expected: "a 1-Wire sensor id such as 28-0316a2795aff",
              },
              additionalProperties: label,
            },
          },
        },
        net: {
          type: "object",
          additionalProperties: false,
          properties: {
            ...collectorCommon,
            root,
            probe_timeout: duration,
            ping_count: { type: "integer", minimum: 1, maximum: 20 },
            concurrency: { type: "integer", minimum: 1, maximum: 16 },
            ping: { type: "array", items: pingTarget },
            tcp: { type: "array", items: tcpTarget },
            dns: { type: "array", items: dnsCheck },
            http: { type: "array", items: httpTarget },
            gateway: { type: "boolean" },
            wifi: { type: "boolean" },
          },
        },
        exec: {
          type: "array",
          items: {
            type: "object",
            required: ["name", "command"],
            additionalProperties: false,
            properties: {
              name: label,
              command: {
                type: "array",
                minItems: 1,
                items: { type: "string", minLength: 1 },
                expected: 'a command as a list: ["/usr/local/bin/read-sensors", "--json"]',
              },
              schedule,
              timeout: duration,
              env: { type: "object", additionalProperties: { type: "string" } },
              max_output_bytes: { type: "integer", minimum: 1024 },
            },
          },
        },
        self: { type: "object", additionalProperties: false, properties: { ...collectorCommon } },
      },
    },
    control: {
      type: "object",
      required: ["url", "owner_public_key"],
      additionalProperties: false,
      properties: {
        enabled: { type: "boolean" },
        ...brokerConnection,
        owner_public_key: {
          if: { type: "string" },
          then: ed25519PublicKey,
          else: { type: "array", minItems: 1, items: ed25519PublicKey },
        },
        topic_prefix: {
          type: "string",
          pattern: "^[A-Za-z0-9_-]{1,64}(?:/[A-Za-z0-9_-]{1,64})*$",
          expected: "topic levels of letters, digits, _ or - joined by /",
        },
        max_skew: duration,
        status_interval: duration,
      },
    },
    mqtt: {
      type: "object",
      required: ["url", "subscriptions"],
      additionalProperties: false,
      properties: {
        enabled: { type: "boolean" },
        schedule,
        ...brokerConnection,
        subscriptions: { type: "array", minItems: 1, items: mqttSubscription },
      },
    },
  },
} as const;
