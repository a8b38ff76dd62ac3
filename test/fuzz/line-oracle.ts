// A second, independent statement of DESIGN.md's wire format, to check the parser against: one
// regular expression per line shape instead of the parser's hand-written scanner. It only says
// whether a line is well-formed and what its fields are; the reasons are the parser's business.
import fc from "fast-check";
import { DEFAULT_MAX_LINE_BYTES } from "../../protocol/line.ts";

const METRIC = String.raw`[A-Za-z0-9_:-]+(?:\.[A-Za-z0-9_:-]+)*`;
const VALUE = String.raw`[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?`;
const TIMESTAMP = String.raw`0|[1-9][0-9]{0,15}`;
const KEY_ID = String.raw`[A-Za-z0-9_.-]{1,64}`;
const SIGNATURE = String.raw`(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)`;

const SIGNED = new RegExp(`^(${METRIC}) (${VALUE}) (${TIMESTAMP}) (${KEY_ID}) (${SIGNATURE})$`);
const CARBON = new RegExp(`^(${METRIC}) (${VALUE}) (${TIMESTAMP})$`);

export interface OracleFields {
  readonly metric: string;
  readonly value: string;
  readonly timestamp: number;
  readonly keyId?: string;
  readonly signature?: string;
}

/** The line as the parser sees it: one trailing LF, then one trailing CR, removed. */
export function lineBody(text: string): string {
  const noLf = text.endsWith("\n") ? text.slice(0, -1) : text;
  return noLf.endsWith("\r") ? noLf.slice(0, -1) : noLf;
}

function oracle(pattern: RegExp, text: string, maxLineBytes: number): OracleFields | undefined {
  const body = lineBody(text);
  if (Buffer.byteLength(body, "utf8") > maxLineBytes) return undefined;
  const match = pattern.exec(body);
  if (!match) return undefined;
  const [, metric, value, timestamp, keyId, signature] = match as unknown as string[];
  if (!Number.isFinite(Number(value))) return undefined;
  return {
    metric: metric as string,
    value: value as string,
    timestamp: Number(timestamp),
    ...(keyId !== undefined && { keyId, signature }),
  };
}

export function oracleSignedLine(
  text: string,
  maxLineBytes = DEFAULT_MAX_LINE_BYTES,
): OracleFields | undefined {
  return oracle(SIGNED, text, maxLineBytes);
}

export function oracleCarbonLine(
  text: string,
  maxLineBytes = DEFAULT_MAX_LINE_BYTES,
): OracleFields | undefined {
  return oracle(CARBON, text, maxLineBytes);
}

// ---- arbitraries ---------------------------------------------------------------------------------

const segment = fc.stringMatching(/^[A-Za-z0-9_:-]{1,16}$/);
const metric = fc.array(segment, { minLength: 1, maxLength: 8 }).map((parts) => parts.join("."));
const value = fc.oneof(
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
  fc.stringMatching(/^[+-]?[0-9]{0,4}\.?[0-9]{0,4}([eE][+-]?[0-9]{1,3})?$/),
);
const timestamp = fc.oneof(fc.integer({ min: 0, max: 4_000_000_000 }), fc.maxSafeNat());
const keyId = fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/);
const signature = fc
  .uint8Array({ minLength: 1, maxLength: 66 })
  .map((bytes) => Buffer.from(bytes).toString("base64"));

/** A line that is well-formed, or nearly so (values like "." and "1e999" are in the mix). */
export const signedLineText = fc
  .tuple(metric, value, timestamp, keyId, signature)
  .map((fields) => fields.join(" "));

/** One character: any byte value (as latin1, as the TCP and HTTP listeners decode), or any code point. */
export const anyChar = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map((code) => String.fromCharCode(code)),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  fc.constantFrom(" ", "\t", "\r", "\n", "=", ".", "\u0000", "\u00a0", "\u2028", "\ufeff", "\ud800"),
);

type Mutation =
  | { readonly kind: "insert"; readonly at: number; readonly text: string }
  | { readonly kind: "delete"; readonly at: number }
  | { readonly kind: "replace"; readonly at: number; readonly text: string }
  | { readonly kind: "append"; readonly text: string };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), text: anyChar }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("replace" as const), at: fc.nat(), text: anyChar }),
  fc.record({
    kind: fc.constant("append" as const),
    text: fc.constantFrom("\n", "\r", "\r\n", "\n\n", " ", "\r\r\n"),
  }),
);

function applyMutation(text: string, change: Mutation): string {
  if (change.kind === "append") return text + change.text;
  const at = text.length === 0 ? 0 : change.at % (text.length + 1);
  if (change.kind === "insert") return text.slice(0, at) + change.text + text.slice(at);
  if (change.kind === "delete") return text.slice(0, at) + text.slice(at + 1);
  return text.slice(0, at) + change.text + text.slice(at + 1);
}

/** A nearly valid line with a few random edits: most edits break it, some do not. */
export const mutatedLineText = fc
  .tuple(signedLineText, fc.array(mutation, { maxLength: 4 }))
  .map(([text, changes]) => changes.reduce(applyMutation, text));

/** Long inputs around and far past the 1 KiB cap, in ASCII and not. */
export const longText = fc.oneof(
  fc.string({ minLength: 1000, maxLength: 1100 }),
  fc.string({ unit: "binary", minLength: 300, maxLength: 1200 }),
  fc
    .tuple(signedLineText, fc.integer({ min: 0, max: 1100 }), fc.constantFrom("a", "é", "😀", " ", "\u0000"))
    .map(([line, count, pad]) => `${pad.repeat(count)}${line}`),
  fc
    .tuple(fc.constantFrom("a", "é", " ", "\n", "="), fc.integer({ min: 1, max: 200_000 }))
    .map(([c, n]) => c.repeat(n)),
);
