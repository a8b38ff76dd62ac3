// The in-process fuzz targets, shared by the test files (a modest numRuns, in CI) and
// scripts/fuzz.ts (`npm run fuzz`, a million cases and more). Each is a fast-check property: it
// throws (an assertion) when the code under test misbehaves.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import fc from "fast-check";
import type { Logger } from "pino";
import { stringify as yamlStringify } from "yaml";
import { DEFAULT_MAX_LINE_BYTES, parseCarbonLine, parseSignedLine } from "../../protocol/line.ts";
import type { ParseResult } from "../../protocol/line.ts";
import { ALL_REJECT_REASONS, RejectReason } from "../../protocol/reasons.ts";
import {
  ALL_CONTROL_REJECT_REASONS,
  CONTROL_OPS,
  openControlMessage,
  signControlMessage,
} from "../../protocol/control-message.ts";
import type { ControlMessage, OpenedControlMessage } from "../../protocol/control-message.ts";
import { ed25519Signer, ed25519Verifier, generateEd25519KeyPair } from "../../protocol/keys.ts";
import { AuthFileError, parseAuthFile } from "../../server-stub/auth/auth-file.ts";
import type { IngestResult } from "../../server-stub/ingest/ingest.ts";
import { serveLines } from "../../server-stub/listeners/line-stream.ts";
import type { ListenerContext } from "../../server-stub/listeners/listener.ts";
import {
  anyChar,
  lineBody,
  longText,
  mutatedLineText,
  oracleCarbonLine,
  oracleSignedLine,
  signedLineText,
} from "./line-oracle.ts";
import type { OracleFields } from "./line-oracle.ts";

export interface FuzzParams {
  readonly numRuns: number;
  readonly seed?: number;
}

export interface FuzzTarget {
  readonly name: string;
  /** Share of `npm run fuzz`'s total runs. */
  readonly weight: number;
  /** Runs the property `numRuns` times; throws fast-check's report (with the seed and the shrunk case) on failure. */
  check(params: FuzzParams): void;
}

function target<Ts extends unknown[]>(
  name: string,
  weight: number,
  property: () => fc.IProperty<Ts>,
): FuzzTarget {
  return { name, weight, check: (params) => fc.assert(property(), params) };
}

// ---- the line parser ----------------------------------------------------------------------------

function checkAgainstOracle(
  text: string,
  result: ParseResult<OracleFields>,
  expected: OracleFields | undefined,
): void {
  const tooLong = Buffer.byteLength(lineBody(text), "utf8") > DEFAULT_MAX_LINE_BYTES;
  if (expected === undefined) {
    assert.ok(!result.ok, `accepted a malformed line: ${JSON.stringify(text.slice(0, 200))}`);
    assert.ok(ALL_REJECT_REASONS.includes(result.reason), `unknown reason ${result.reason}`);
    assert.equal(typeof result.detail, "string");
    assert.equal(result.reason === RejectReason.LineTooLong, tooLong, `reason ${result.reason}`);
    return;
  }
  assert.ok(result.ok, `refused a good line (${result.ok ? "" : result.reason}): ${JSON.stringify(text)}`);
  // A signed line may keep its received text as the signed message: the first four fields, as DESIGN.md says.
  const { message, ...fields } = result.line as OracleFields & { message?: string };
  if (message !== undefined) {
    assert.equal(message, `${expected.metric} ${expected.value} ${expected.timestamp} ${expected.keyId}`);
  }
  assert.deepEqual(fields, { ...expected });
}

/** Any text: the parsers never throw, agree with the regex oracle, and refuse as too long exactly what is over 1 KiB. */
export function checkLine(text: string): void {
  checkAgainstOracle(text, parseSignedLine(text), oracleSignedLine(text));
  checkAgainstOracle(text, parseCarbonLine(text), oracleCarbonLine(text));
}

const anyLineText = fc.oneof(
  { weight: 4, arbitrary: mutatedLineText },
  { weight: 1, arbitrary: signedLineText },
  { weight: 1, arbitrary: signedLineText.map((line) => line.split(" ").slice(0, 3).join(" ")) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 1500 }).map((b) => Buffer.from(b).toString("latin1")) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 300 }) },
  { weight: 1, arbitrary: fc.array(anyChar, { maxLength: 120 }).map((chars) => chars.join("")) },
);

export const lineParserTarget = target("line parser vs oracle", 40, () =>
  fc.property(anyLineText, checkLine),
);

export const longLineTarget = target("line parser, long and non-ASCII input", 4, () =>
  fc.property(longText, checkLine),
);

// ---- stream framing (TCP/TLS listeners) ---------------------------------------------------------

/** Just enough of a net.Socket for serveLines: data and end go in, destroy is recorded. */
class FakeSocket extends EventEmitter {
  destroyed = false;
  setTimeout(): this {
    return this;
  }
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  end(): this {
    return this;
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.emit("close");
    }
    return this;
  }
}

const quietLog = {
  debug: () => undefined,
  warn: () => undefined,
  info: () => undefined,
} as unknown as Logger;

/** Feeds `chunks` through serveLines and returns the lines it submitted and whether it closed the socket. */
export function frameChunks(
  chunks: readonly Buffer[],
  maxLineBytes: number,
): { lines: string[]; closed: boolean } {
  const lines: string[] = [];
  const socket = new FakeSocket();
  const result: IngestResult = {
    accepted: 0,
    rejected: new Map(),
    errors: [],
    sourceBlocked: false,
    retryAfterMs: 0,
    forwarded: Promise.resolve(),
  };
  const context = {
    ingest: {
      submit: (batch: readonly string[]) => {
        lines.push(...batch);
        return result;
      },
    },
    stats: { refusedConnection: () => undefined },
    log: quietLog,
    maxLineBytes,
    idleTimeoutMs: 60_000,
  } as unknown as ListenerContext;
  serveLines(socket as unknown as Socket, "127.0.0.1", context);
  for (const chunk of chunks) {
    if (socket.destroyed) break;
    socket.emit("data", chunk);
  }
  if (!socket.destroyed) socket.emit("end");
  return { lines, closed: socket.destroyed };
}

/**
 * What DESIGN.md says framing does: split on LF; an over-long line (CR slack aside) closes the
 * stream, and what is counted for it is the cap plus two characters of the stream from where it starts.
 */
export function frameModel(text: string, maxLineBytes: number): { lines: string[]; closed: boolean } {
  const maxFramed = maxLineBytes + 1;
  const lines: string[] = [];
  let start = 0;
  for (let newline = text.indexOf("\n"); newline >= 0; newline = text.indexOf("\n", start)) {
    const part = text.slice(start, newline);
    if (part.length > maxLineBytes && (part.length > maxFramed || !part.endsWith("\r"))) {
      return { lines: [...lines, text.slice(start, start + maxFramed + 1)], closed: true };
    }
    lines.push(part);
    start = newline + 1;
  }
  const last = text.slice(start);
  if (last.length > maxFramed) return { lines: [...lines, last.slice(0, maxFramed + 1)], closed: true };
  if (last.length > 0) lines.push(last);
  return { lines, closed: false };
}

const streamText = fc
  .tuple(
    fc.array(
      fc.oneof(
        { weight: 6, arbitrary: mutatedLineText },
        { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
        { weight: 1, arbitrary: fc.integer({ min: 55, max: 70 }).map((n) => `${"x".repeat(n)}\r`) },
        { weight: 1, arbitrary: fc.integer({ min: 55, max: 70 }).map((n) => "y".repeat(n)) },
      ),
      { maxLength: 12 },
    ),
    fc.boolean(),
  )
  .map(([parts, trailing]) => parts.join("\n") + (trailing ? "\n" : ""));

export const framingTarget = target("stream framing, any chunking", 16, () =>
  fc.property(
    streamText,
    fc.array(fc.nat(), { maxLength: 8 }),
    fc.integer({ min: 60, max: 64 }),
    (text, cuts, maxLineBytes) => {
      // Listeners decode bytes as latin1; encode the text the way a sender's UTF-8 would arrive.
      const bytes = Buffer.from(text, "utf8");
      const wire = bytes.toString("latin1");
      const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
      const chunks: Buffer[] = [];
      let start = 0;
      for (const point of [...points, bytes.length]) {
        if (point > start) chunks.push(bytes.subarray(start, point));
        start = Math.max(start, point);
      }
      assert.deepEqual(frameChunks(chunks, maxLineBytes), frameModel(wire, maxLineBytes));
    },
  ),
);

// ---- the auth file ------------------------------------------------------------------------------

/** Distinctive, so a match in an error message cannot be a coincidence. */
const secretValue = fc.stringMatching(/^[a-z0-9]{12,24}$/).map((tail) => `S3CR3T${tail}`);

function assertOnlyAuthFileError(run: () => unknown, secrets: readonly string[] = []): void {
  try {
    run();
  } catch (error) {
    if (!(error instanceof AuthFileError)) {
      throw new Error(`parseAuthFile threw ${(error as Error)?.name}: ${(error as Error)?.message}`, {
        cause: error,
      });
    }
    for (const secret of secrets) {
      assert.ok(!error.message.includes(secret), `the error message shows a secret: ${error.message}`);
    }
  }
}

const yamlToken = fc.constantFrom(
  "apikeys:",
  "apikeys: ",
  "  ",
  "    ",
  "\n",
  "\n  ",
  ": ",
  "- ",
  "[",
  "]",
  "{",
  "}",
  ",",
  "&a ",
  "*a",
  "*b",
  "&b ",
  "<<: ",
  "!!binary ",
  "!!set ",
  "!!omap ",
  "!!int ",
  "!!float ",
  "!!timestamp ",
  "!tag ",
  "? ",
  "%YAML 1.2\n---\n",
  "---\n",
  "...\n",
  "#",
  "|\n",
  ">-\n",
  '"',
  "'",
  "\\",
  "\t",
  "secret_key",
  "ed25519",
  "metrics",
  "rate",
  "burst",
  "max_age",
  "disabled",
  "__proto__",
  "constructor",
  "my_public_key",
  "S3CR3Tfromtokens",
  "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
  "7d",
  "1e400",
  "-1",
  "true",
  "null",
  "~",
  "[z-a]",
  "{a,",
  "**",
  "a.*.b",
  "\u0000",
  "\ufeff",
  "é",
);

const yamlSoup = fc.array(yamlToken, { maxLength: 60 }).map((tokens) => tokens.join(""));

/** Values of every shape for every field, good ones included. */
const fieldValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    "7d",
    "12h",
    "0",
    "-5m",
    "1e400",
    "[z-a]",
    "{a,[}",
    "a.**.b",
    "a**",
    "*",
    "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
  ),
  fc.constantFrom({ toString: 1 }, { valueOf: "x" }, [[]], [{}]),
  fc.array(
    fc.constantFrom("metric1", "homeward.**", "a.{b,c}.d", "[!x]y", "[z-a]", "a.[b-a]*", "", "[", "{", "]"),
    { maxLength: 4 },
  ),
  fc.double(),
  fc.integer(),
);

const entry = fc.record(
  {
    secret_key: fc.oneof(secretValue, fc.array(secretValue, { maxLength: 3 }), fieldValue),
    ed25519: fc.oneof(
      fc.uint8Array({ minLength: 31, maxLength: 33 }).map((b) => Buffer.from(b).toString("base64")),
      fieldValue,
    ),
    metrics: fieldValue,
    rate: fieldValue,
    burst: fieldValue,
    max_age: fieldValue,
    disabled: fc.oneof(fc.boolean(), fieldValue),
    extra: fieldValue,
  },
  { requiredKeys: [] },
);

const keyIdish = fc
  .oneof(fc.stringMatching(/^[A-Za-z0-9_.-]{1,70}$/), fc.string({ maxLength: 12 }), fc.constant("__proto__"))
  .filter((id) => !id.includes("S3CR3T"));

const authDocument = fc.oneof(
  { weight: 4, arbitrary: fc.record({ apikeys: fc.dictionary(keyIdish, entry, { maxKeys: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ apikeys: fieldValue }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

function secretsIn(value: unknown, found: string[] = []): string[] {
  if (typeof value === "string") {
    if (value.startsWith("S3CR3T")) found.push(value);
  } else if (Array.isArray(value)) {
    for (const item of value) secretsIn(item, found);
  } else if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) secretsIn(item, found);
  }
  return found;
}

export const authBytesTarget = target("auth file, random bytes and YAML token soup", 12, () =>
  fc.property(
    fc.oneof(
      fc.uint8Array({ maxLength: 400 }).map((bytes) => Buffer.from(bytes).toString("utf8")),
      fc.string({ unit: "binary", maxLength: 200 }),
      yamlSoup,
    ),
    (text) => assertOnlyAuthFileError(() => parseAuthFile(text, "/fuzz/auth_file.yaml")),
  ),
);

export const authStructureTarget = target("auth file, random structures as YAML and JSON", 12, () =>
  fc.property(authDocument, fc.boolean(), (document, asJson) => {
    let text: string;
    try {
      text = asJson ? JSON.stringify(document) : yamlStringify(document);
    } catch {
      return;
    }
    assertOnlyAuthFileError(() => parseAuthFile(text, "/fuzz/auth_file.yaml"), secretsIn(document));
  }),
);

/** A good auth file in block or flow style, holding secrets; typos are made in its text. */
const goodAuthText = fc
  .tuple(
    fc.array(
      fc.tuple(
        fc.stringMatching(/^[a-z][a-z0-9_-]{0,11}$/),
        fc.array(secretValue, { minLength: 1, maxLength: 2 }),
      ),
      {
        minLength: 1,
        maxLength: 3,
      },
    ),
    fc.boolean(),
  )
  .map(([keys, flow]) => {
    const secrets = keys.flatMap(([, values]) => values);
    const entries = keys.map(([keyId, values]) => {
      const secret = values.length === 1 ? values[0] : `[${values.join(", ")}]`;
      return flow
        ? `  ${keyId}: {secret_key: ${secret}, metrics: [metric1, "a.**"], rate: 5}`
        : `  ${keyId}:\n    secret_key: ${secret}\n    metrics: [metric1]\n    max_age: 7d`;
    });
    return { text: `apikeys:\n${entries.join("\n")}\n`, secrets };
  });

const typoChar = fc.constantFrom(
  ",",
  ":",
  ": ",
  " ",
  "\n",
  "\n  ",
  "{",
  "}",
  "[",
  "]",
  "- ",
  "? ",
  "#",
  '"',
  "'",
  "&",
  "*",
);
const typo = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom("insert", "replace", "delete"),
  text: typoChar,
});

export const authTypoTarget = target("auth file, typos around secrets", 8, () =>
  fc.property(goodAuthText, fc.array(typo, { minLength: 1, maxLength: 3 }), ({ text, secrets }, typos) => {
    let changed = text;
    for (const { at, kind, text: char } of typos) {
      const index = at % (changed.length + 1);
      const rest = kind === "insert" ? changed.slice(index) : changed.slice(index + 1);
      changed = changed.slice(0, index) + (kind === "delete" ? "" : char) + rest;
    }
    assertOnlyAuthFileError(() => parseAuthFile(changed, "/fuzz/auth_file.yaml"), secrets);
  }),
);

// ---- MQTT control messages ----------------------------------------------------------------------

const owner = generateEd25519KeyPair();
const ownerSigner = ed25519Signer(owner.secretKey);
const stranger = ed25519Signer(generateEd25519KeyPair().secretKey);
const CONTROL_DEVICE = "grandma-pi";
const CONTROL_NOW_MS = 1_764_000_000_000;
const controlOptions = {
  verifiers: [ed25519Verifier(owner.publicKey)],
  device: CONTROL_DEVICE,
  nowMs: CONTROL_NOW_MS,
};

function checkOpened(result: OpenedControlMessage): void {
  if (!result.ok) {
    assert.ok(ALL_CONTROL_REJECT_REASONS.includes(result.reason), `unknown reason ${result.reason}`);
    assert.equal(typeof result.detail, "string");
  }
}

/** Messages whose fields are each right or wrong in some way; signed by the owner or by a stranger. */
const controlFields = fc.record({
  v: fc.oneof(fc.constant(1), fc.jsonValue({ maxDepth: 1 })),
  device: fc.oneof(fc.constant(CONTROL_DEVICE), fc.constant("other-pi"), fc.string({ maxLength: 70 })),
  op: fc.oneof(fc.constantFrom(...CONTROL_OPS), fc.string({ maxLength: 8 })),
  body: fc.jsonValue({ maxDepth: 3 }),
  ts: fc.oneof(
    fc.integer({ min: -400, max: 400 }).map((offset) => CONTROL_NOW_MS / 1000 + offset),
    fc.double(),
    fc.string({ maxLength: 12 }),
  ),
  nonce: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{16,64}$/), fc.string({ maxLength: 80 })),
  reply_to: fc.option(fc.oneof(fc.constant("homeward/ctl/reply/x"), fc.string({ maxLength: 40 })), {
    nil: undefined,
  }),
});

export const controlRandomTarget = target("control messages, random bytes and envelopes", 4, () =>
  fc.property(
    fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc
        .jsonValue({ maxDepth: 4 })
        .map((value) => new Uint8Array(Buffer.from(JSON.stringify(value) ?? "null"))),
      fc
        .record({
          payload: fc.oneof(fc.string(), fc.jsonValue()),
          sig: fc.oneof(fc.base64String(), fc.jsonValue()),
        })
        .map((value) => new Uint8Array(Buffer.from(JSON.stringify(value)))),
    ),
    (bytes) => {
      const result = openControlMessage(bytes, controlOptions);
      checkOpened(result);
      assert.ok(!result.ok, "only the owner's signature opens a message");
    },
  ),
);

export const controlSignedTarget = target("control messages, signed, any fields, any edits", 4, () =>
  fc.property(
    controlFields,
    fc.boolean(),
    fc.array(fc.record({ at: fc.nat(), char: anyChar, drop: fc.boolean() }), { maxLength: 2 }),
    (fields, byOwner, edits) => {
      const message = { ...fields } as unknown as ControlMessage;
      let text = signControlMessage(message, byOwner ? ownerSigner : stranger);
      for (const edit of edits) {
        const at = edit.at % (text.length + 1);
        text = text.slice(0, at) + (edit.drop ? "" : edit.char) + text.slice(edit.drop ? at + 1 : at);
      }
      const result = openControlMessage(new Uint8Array(Buffer.from(text, "utf8")), controlOptions);
      checkOpened(result);
      if (!result.ok) return;
      // Whatever opens was signed by the owner, and is exactly what was signed.
      assert.ok(byOwner, "a stranger's message opened");
      assert.deepEqual(result.message, JSON.parse(JSON.stringify(message)));
      assert.equal(result.message.device, CONTROL_DEVICE);
      assert.ok(Math.abs(result.message.ts * 1000 - CONTROL_NOW_MS) <= 5 * 60_000);
    },
  ),
);

export const PURE_TARGETS: readonly FuzzTarget[] = [
  lineParserTarget,
  longLineTarget,
  framingTarget,
  authBytesTarget,
  authStructureTarget,
  authTypoTarget,
  controlRandomTarget,
  controlSignedTarget,
];
