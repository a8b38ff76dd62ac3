import { RejectReason } from "./reasons.ts";

/** The default cap on one line, in bytes, before the newline. */
export const DEFAULT_MAX_LINE_BYTES = 1024;

export const MAX_KEY_ID_LENGTH = 64;

/** A Carbon datapoint: what is forwarded, `<metric> <value> <timestamp>`. */
export interface CarbonPoint {
  readonly metric: string;
  /** The value exactly as written: the signature covers these bytes, so it is never re-formatted. */
  readonly value: string;
  readonly timestamp: number;
}

/** A Carbon datapoint bound to a key: the part of a line that is signed. */
export interface UnsignedLine extends CarbonPoint {
  readonly keyId: string;
}

export interface SignedLine extends UnsignedLine {
  /** base64 with padding, exactly as received. */
  readonly signature: string;
  /**
   * Set by the parser only, to the received text that is exactly canonicalMessage of this line, so
   * that the hot path neither rebuilds it nor formats the timestamp again (see signedMessage and
   * carbonLineOf). A line made from another, e.g. by spreading it, must leave it out.
   */
  readonly message?: string;
}

export type ParseResult<T> =
  | { readonly ok: true; readonly line: T }
  | { readonly ok: false; readonly reason: RejectReason; readonly detail: string };

export interface ParseOptions {
  readonly maxLineBytes?: number;
}

const METRIC_PATTERN = /^[A-Za-z0-9_:-]+(?:\.[A-Za-z0-9_:-]+)*$/;
const VALUE_PATTERN = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const TIMESTAMP_PATTERN = /^(?:0|[1-9]\d{0,15})$/;
const KEY_ID_PATTERN = /^[A-Za-z0-9_.-]+$/;

const TAB = 0x09;
const SPACE = 0x20;
const DEL = 0x7f;

/** 1 for the 64 base64 alphabet characters, by char code (the parser's hot path: a regex here cost more than an HMAC). */
const BASE64_CHAR = new Uint8Array(128);
for (const char of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
  BASE64_CHAR[char.charCodeAt(0)] = 1;
const EQUALS = 0x3d;

/** Padded base64: whole 4-character groups, the last ending in at most two '='. */
function isPaddedBase64(text: string): boolean {
  const length = text.length;
  if (length === 0 || length % 4 !== 0) return false;
  let end = length;
  if (text.charCodeAt(end - 1) === EQUALS) {
    end--;
    if (text.charCodeAt(end - 1) === EQUALS) end--;
  }
  for (let index = 0; index < end; index++) {
    const code = text.charCodeAt(index);
    if (code >= 128 || BASE64_CHAR[code] !== 1) return false;
  }
  return true;
}

function reject<T>(reason: RejectReason, detail: string): ParseResult<T> {
  return { ok: false, reason, detail };
}

export function isValidMetric(metric: string): boolean {
  return METRIC_PATTERN.test(metric);
}

export function isValidKeyId(keyId: string): boolean {
  return keyId.length <= MAX_KEY_ID_LENGTH && KEY_ID_PATTERN.test(keyId);
}

export function isValidValue(value: string): boolean {
  return VALUE_PATTERN.test(value) && Number.isFinite(Number(value));
}

/** Checks framing (length, separators, control bytes) and splits into exactly `expected` fields. */
function splitFields(text: string, expected: number, options: ParseOptions): ParseResult<string[]> {
  const maxBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const body = text.charCodeAt(text.length - 1) === 0x0d ? text.slice(0, -1) : text;
  if (body.length > maxBytes) {
    return reject(RejectReason.LineTooLong, `line is longer than ${maxBytes} bytes`);
  }
  let ascii = true;
  let badIndex = -1;
  for (let index = 0; index < body.length; index++) {
    const code = body.charCodeAt(index);
    if (code > DEL) ascii = false;
    else if (code < SPACE || code === DEL) {
      badIndex = index;
      break;
    }
  }
  // Only non-ASCII text can be longer in UTF-8 bytes than in characters (the hot path skips the count).
  if ((!ascii || badIndex >= 0) && Buffer.byteLength(body, "utf8") > maxBytes) {
    return reject(RejectReason.LineTooLong, `line is longer than ${maxBytes} bytes`);
  }
  if (badIndex >= 0) {
    const code = body.charCodeAt(badIndex);
    if (code === TAB) {
      return reject(
        RejectReason.BadSeparator,
        `tab at column ${badIndex + 1}; fields are separated by one space`,
      );
    }
    return reject(
      RejectReason.ControlByte,
      `control byte 0x${code.toString(16).padStart(2, "0")} at column ${badIndex + 1}`,
    );
  }
  const fields = body.split(" ");
  if (fields.includes("")) {
    return reject(RejectReason.EmptyField, "empty field: fields are separated by exactly one space");
  }
  if (fields.length !== expected) {
    return reject(
      RejectReason.FieldCount,
      `expected ${expected} fields separated by single spaces, got ${fields.length}`,
    );
  }
  return { ok: true, line: fields };
}

function checkPoint(metric: string, value: string, timestamp: string): ParseResult<CarbonPoint> {
  if (!isValidMetric(metric)) {
    return reject(
      RejectReason.BadMetric,
      "metric must be segments of [A-Za-z0-9_:-] joined by single dots, with no empty segment",
    );
  }
  if (!isValidValue(value)) {
    return reject(RejectReason.BadValue, "value must be a finite decimal number");
  }
  if (!TIMESTAMP_PATTERN.test(timestamp)) {
    return reject(
      RejectReason.BadTimestamp,
      "timestamp must be whole Unix seconds in canonical decimal (no sign, leading zero or fraction)",
    );
  }
  return { ok: true, line: { metric, value, timestamp: Number(timestamp) } };
}

/** Parses a plain Carbon line, `<metric> <value> <timestamp>`, with or without its newline stripped. */
export function parseCarbonLine(text: string, options: ParseOptions = {}): ParseResult<CarbonPoint> {
  const split = splitFields(stripNewline(text), 3, options);
  if (!split.ok) return split;
  const [metric, value, timestamp] = split.line as [string, string, string];
  return checkPoint(metric, value, timestamp);
}

/** Parses a signed line, `<metric> <value> <timestamp> <key_id> <signature>`. Never throws. */
export function parseSignedLine(text: string, options: ParseOptions = {}): ParseResult<SignedLine> {
  const line = scanSignedLine(text, options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
  if (line !== undefined) return { ok: true, line };
  return parseSignedLineByFields(text, options);
}

/** Character classes of the signed-line grammar, by char code (ASCII only). */
const METRIC_CHAR = 1;
const KEY_ID_CHAR = 2;
const DIGIT = 4;
const CHAR_CLASS = new Uint8Array(128);
for (let code = 0; code < 128; code++) {
  const char = String.fromCharCode(code);
  if (/[A-Za-z0-9_:-]/.test(char)) CHAR_CLASS[code] = (CHAR_CLASS[code] as number) | METRIC_CHAR;
  if (/[A-Za-z0-9_.-]/.test(char)) CHAR_CLASS[code] = (CHAR_CLASS[code] as number) | KEY_ID_CHAR;
  if (/[0-9]/.test(char)) CHAR_CLASS[code] = (CHAR_CLASS[code] as number) | DIGIT;
}
const DOT = 0x2e;
const PLUS = 0x2b;
const MINUS = 0x2d;
const ZERO = 0x30;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const MAX_TIMESTAMP_DIGITS = 16;
/** Every whole number of up to 15 digits is below 2^53: it reads, and formats back, exactly. */
const MAX_EXACT_TIMESTAMP_DIGITS = 15;
/** Any decimal with at most this many digits and no exponent is below Number.MAX_VALUE. */
const MAX_FINITE_PLAIN_DIGITS = 308;

function hasClass(code: number, charClass: number): boolean {
  return code < 128 && ((CHAR_CLASS[code] as number) & charClass) !== 0;
}

/** Index of the first character at or after `index` that is not a digit. */
function skipDigits(text: string, index: number, end: number): number {
  while (index < end && hasClass(text.charCodeAt(index), DIGIT)) index++;
  return index;
}

/**
 * The hot path of parseSignedLine: one pass over a well-formed line, with no regex, split or
 * intermediate result. It accepts exactly what parseSignedLineByFields accepts, or returns
 * undefined for anything out of the ordinary (which that one then rejects with its reason, or
 * accepts after all), so it never decides a rejection itself.
 */
function scanSignedLine(text: string, maxBytes: number): SignedLine | undefined {
  let end = text.length;
  if (end > 0 && text.charCodeAt(end - 1) === 0x0a) end--;
  if (end > 0 && text.charCodeAt(end - 1) === 0x0d) end--;
  // Every character accepted below is ASCII, so characters are bytes.
  if (end > maxBytes) return undefined;

  // metric: segments of METRIC_CHAR joined by single dots
  let index = 0;
  let segmentStart = 0;
  for (; index < end; index++) {
    const code = text.charCodeAt(index);
    if (code === SPACE) break;
    if (code === DOT) {
      if (index === segmentStart) return undefined;
      segmentStart = index + 1;
    } else if (!hasClass(code, METRIC_CHAR)) return undefined;
  }
  if (index === segmentStart || index === end) return undefined;
  const metricEnd = index++;

  // value: [+-]? (\d+ (\.\d*)? | \.\d+) ([eE][+-]?\d+)?
  const valueStart = index;
  let code = text.charCodeAt(index);
  if (code === PLUS || code === MINUS) index++;
  const integerStart = index;
  index = skipDigits(text, index, end);
  let digits = index - integerStart;
  if (text.charCodeAt(index) === DOT) {
    const fractionStart = ++index;
    index = skipDigits(text, index, end);
    digits += index - fractionStart;
  }
  if (digits === 0) return undefined;
  code = text.charCodeAt(index);
  const hasExponent = code === LOWER_E || code === UPPER_E;
  if (hasExponent) {
    code = text.charCodeAt(++index);
    if (code === PLUS || code === MINUS) index++;
    const exponentStart = index;
    index = skipDigits(text, index, end);
    if (index === exponentStart) return undefined;
  }
  if (index >= end || text.charCodeAt(index) !== SPACE) return undefined;
  const value = text.slice(valueStart, index);
  // Without an exponent, up to 308 digits before the point is always finite: no Number() needed.
  if ((hasExponent || digits > MAX_FINITE_PLAIN_DIGITS) && !Number.isFinite(Number(value))) return undefined;
  index++;

  // timestamp: 0, or up to 16 digits without a leading zero, its value read as it is scanned
  const timestampStart = index;
  let timestamp = 0;
  for (; index < end; index++) {
    const digit = text.charCodeAt(index) - ZERO;
    if (digit < 0 || digit > 9) break;
    timestamp = timestamp * 10 + digit;
  }
  const timestampDigits = index - timestampStart;
  if (timestampDigits === 0 || timestampDigits > MAX_TIMESTAMP_DIGITS) return undefined;
  if (timestampDigits > 1 && text.charCodeAt(timestampStart) === ZERO) return undefined;
  if (index >= end || text.charCodeAt(index) !== SPACE) return undefined;
  const timestampEnd = index++;
  // Exact below 2^53; a longer one is read (and formatted) by Number, as the field parser does.
  const exact = timestampDigits <= MAX_EXACT_TIMESTAMP_DIGITS;
  if (!exact) timestamp = Number(text.slice(timestampStart, timestampEnd));

  // key id
  const keyIdStart = index;
  while (index < end && hasClass(text.charCodeAt(index), KEY_ID_CHAR)) index++;
  const keyIdLength = index - keyIdStart;
  if (keyIdLength === 0 || keyIdLength > MAX_KEY_ID_LENGTH) return undefined;
  if (index >= end || text.charCodeAt(index) !== SPACE) return undefined;
  const keyIdEnd = index++;

  // signature: padded base64, to the end of the line
  const signatureStart = index;
  while (index < end) {
    code = text.charCodeAt(index);
    if (code >= 128 || BASE64_CHAR[code] !== 1) break;
    index++;
  }
  if (index < end && text.charCodeAt(index) === EQUALS) index++;
  if (index < end && text.charCodeAt(index) === EQUALS) index++;
  const signatureLength = index - signatureStart;
  if (index !== end || signatureLength === 0 || signatureLength % 4 !== 0) return undefined;

  const metric = text.slice(0, metricEnd);
  const keyId = text.slice(keyIdStart, keyIdEnd);
  const signature = text.slice(signatureStart, end);
  // The text up to the key id is the canonical message whenever the timestamp reads back as written.
  if (!exact) return { metric, value, timestamp, keyId, signature };
  return { metric, value, timestamp, keyId, signature, message: text.slice(0, keyIdEnd) };
}

/**
 * parseSignedLine without its fast path: split into fields, then each field checked on its own,
 * which is what names the reason for a rejection. Exported as the reference the fast path is
 * tested against.
 */
export function parseSignedLineByFields(text: string, options: ParseOptions = {}): ParseResult<SignedLine> {
  const split = splitFields(stripNewline(text), 5, options);
  if (!split.ok) return split;
  const [metric, value, timestamp, keyId, signature] = split.line as [string, string, string, string, string];
  const point = checkPoint(metric, value, timestamp);
  if (!point.ok) return point;
  if (keyId.length > MAX_KEY_ID_LENGTH) {
    return reject(RejectReason.BadKeyId, `key_id is longer than ${MAX_KEY_ID_LENGTH} characters`);
  }
  if (!KEY_ID_PATTERN.test(keyId)) {
    return reject(RejectReason.BadKeyId, "key_id must match [A-Za-z0-9_.-]{1,64}");
  }
  if (!isPaddedBase64(signature)) {
    return reject(RejectReason.BadSignatureEncoding, "signature must be base64 with padding");
  }
  return { ok: true, line: { metric, value, timestamp: point.line.timestamp, keyId, signature } };
}

function stripNewline(text: string): string {
  return text.charCodeAt(text.length - 1) === 0x0a ? text.slice(0, -1) : text;
}

/** The exact bytes that are signed: the first four fields joined by single spaces, no newline. */
export function canonicalMessage(line: UnsignedLine): string {
  return `${line.metric} ${line.value} ${line.timestamp} ${line.keyId}`;
}

/** canonicalMessage, taken from the received text when the parser kept it (SignedLine.message). */
export function signedMessage(line: SignedLine): string {
  return line.message ?? canonicalMessage(line);
}

/** formatCarbonLine for a parsed line, cut from the received text when the parser kept it. */
export function carbonLineOf(line: SignedLine): string {
  const message = line.message;
  if (message === undefined) return formatCarbonLine(line);
  return `${message.slice(0, message.length - line.keyId.length - 1)}\n`;
}

/** The wire line without its newline. */
export function formatSignedLine(line: SignedLine): string {
  return `${canonicalMessage(line)} ${line.signature}`;
}

/** What goes to Carbon, with its newline. */
export function formatCarbonLine(point: CarbonPoint): string {
  return `${point.metric} ${point.value} ${point.timestamp}\n`;
}

/** Parses the four signed fields, `<metric> <value> <timestamp> <key_id>`, as `homeward sign` takes them. */
export function parseUnsignedLine(text: string, options: ParseOptions = {}): ParseResult<UnsignedLine> {
  const parsed = parseSignedLine(`${stripNewline(text)} AAAA`, options);
  if (!parsed.ok) {
    if (parsed.reason === RejectReason.FieldCount) {
      return reject(RejectReason.FieldCount, "expected 4 fields: <metric> <value> <timestamp> <key_id>");
    }
    return parsed;
  }
  const { metric, value, timestamp, keyId } = parsed.line;
  return { ok: true, line: { metric, value, timestamp, keyId } };
}
