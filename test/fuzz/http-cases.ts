// HTTP ingest fuzzing against a running `homeward server`: random and broken bodies, gzip that is
// truncated or inflates too far, lying Content-Length headers, raw garbage in place of a request,
// and bodies trickled byte by byte. Every case must be answered (or, for a request that never
// completes, closed by the server's timeouts), the process must stay up, and for every body it
// did decide, the reply must account for every line.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { generateHmacSecret, hmacSigner } from "../../protocol/keys.ts";
import type { MessageSigner } from "../../protocol/keys.ts";
import { canonicalMessage } from "../../protocol/line.ts";
import { ALL_REJECT_REASONS } from "../../protocol/reasons.ts";
import { LOOPBACK } from "../harness/free-port.ts";
import { registerSecret } from "../harness/test-logs.ts";

export const FUZZ_KEY_ID = "fuzz-device";
export const FUZZ_METRIC = "fuzz.http.accepted";

/** Limits the fuzz server runs with; cases aim just under and over them. */
export const FUZZ_LIMITS = { maxBodyBytes: 64 * 1024, maxInflatedBytes: 256 * 1024, idleTimeoutMs: 2000 };

export function fuzzServerFlags(): string[] {
  return [
    // Budgets and rate limits off: every garbage line must go through the parser, not be cut off early.
    "--max-failures",
    "0",
    "--source-rate",
    "1000000000",
    "--source-burst",
    "1000000000",
    "--max-body-bytes",
    String(FUZZ_LIMITS.maxBodyBytes),
    "--max-inflated-bytes",
    String(FUZZ_LIMITS.maxInflatedBytes),
    "--idle-timeout",
    `${FUZZ_LIMITS.idleTimeoutMs}ms`,
    "--max-connections-per-source",
    "10000",
  ];
}

export interface FuzzKey {
  readonly authText: string;
  readonly signer: MessageSigner;
}

export function makeFuzzKey(): FuzzKey {
  const secret = generateHmacSecret();
  registerSecret("fuzz-device hmac secret", secret);
  return {
    authText: `apikeys:\n  ${FUZZ_KEY_ID}:\n    secret_key: ${secret}\n    metrics: ["fuzz.**"]\n    rate: 1000000\n    burst: 1000000\n`,
    signer: hmacSigner(secret),
  };
}

/** Makes good lines with distinct timestamps, so each lands as its own whisper point. */
export class GoodLines {
  private next = 0;
  readonly base = Math.floor(Date.now() / 1000) - 60;
  constructor(private readonly signer: MessageSigner) {}
  /** Good lines made so far. */
  get made(): number {
    return this.next;
  }
  line(): string {
    const index = this.next++;
    const message = canonicalMessage({
      metric: FUZZ_METRIC,
      value: String(index),
      timestamp: this.base - index,
      keyId: FUZZ_KEY_ID,
    });
    return `${message} ${this.signer.sign(message)}`;
  }
}

// ---- cases --------------------------------------------------------------------------------------

type BodyPart = { readonly good: true } | { readonly good: false; readonly bytes: Uint8Array };

export type HttpCase =
  | {
      readonly kind: "body";
      readonly parts: readonly BodyPart[];
      readonly gzip: "none" | "whole" | "truncated";
      readonly cut: number;
    }
  | { readonly kind: "random-gzip"; readonly bytes: Uint8Array }
  | { readonly kind: "gzip-bomb"; readonly inflated: number }
  | { readonly kind: "too-large"; readonly bytes: number }
  | { readonly kind: "huge-content-length"; readonly declared: number; readonly sent: Uint8Array }
  | { readonly kind: "short-body-then-close"; readonly declared: number; readonly sent: Uint8Array }
  | { readonly kind: "short-body-then-wait"; readonly declared: number; readonly sent: Uint8Array }
  | { readonly kind: "raw-garbage"; readonly bytes: Uint8Array }
  | { readonly kind: "bad-chunked"; readonly chunks: readonly string[] }
  | { readonly kind: "trickle"; readonly parts: readonly BodyPart[]; readonly pauseMs: number }
  | {
      readonly kind: "odd-request";
      readonly method: string;
      readonly path: string;
      readonly encoding: string;
    };

const garbageLine = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 80 }).map((text) => new Uint8Array(Buffer.from(text, "utf8"))),
  fc
    .constantFrom("", "\r", "a b c d e", `${FUZZ_METRIC} 1 1 ${FUZZ_KEY_ID} AAAA`)
    .map((text) => new Uint8Array(Buffer.from(text))),
);
const bodyPart: fc.Arbitrary<BodyPart> = fc.oneof(
  fc.constant({ good: true } as const),
  garbageLine.map((bytes) => ({ good: false, bytes }) as const),
);
const parts = fc.array(bodyPart, { maxLength: 30 });
const shortBody = fc.uint8Array({ minLength: 0, maxLength: 40 });

export const httpCase: fc.Arbitrary<HttpCase> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant("body" as const),
      parts,
      gzip: fc.constantFrom("none" as const, "whole" as const, "truncated" as const),
      cut: fc.nat(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("random-gzip" as const),
      bytes: fc.uint8Array({ maxLength: 300 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("gzip-bomb" as const),
      inflated: fc.integer({ min: FUZZ_LIMITS.maxInflatedBytes + 1, max: 4 * FUZZ_LIMITS.maxInflatedBytes }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("too-large" as const),
      bytes: fc.integer({ min: FUZZ_LIMITS.maxBodyBytes + 1, max: 2 * FUZZ_LIMITS.maxBodyBytes }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("huge-content-length" as const),
      declared: fc.oneof(
        fc.integer({ min: FUZZ_LIMITS.maxBodyBytes + 1, max: 2 ** 31 }),
        fc.constant(Number.MAX_SAFE_INTEGER),
      ),
      sent: shortBody,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("short-body-then-close" as const),
      declared: fc.integer({ min: 41, max: FUZZ_LIMITS.maxBodyBytes }),
      sent: shortBody,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("raw-garbage" as const),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 600 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("bad-chunked" as const),
      chunks: fc.array(
        fc.oneof(
          fc.nat({ max: 50 }).map((size) => `${size.toString(16)}\r\n${"x".repeat(size)}\r\n`),
          fc.constantFrom(
            "zz\r\n",
            "-1\r\n",
            "ffffffffffffffff\r\n",
            "5\r\nabc\r\n",
            "0\r\nTrailer: x\r\n",
            "\r\n",
          ),
        ),
        { maxLength: 6 },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("odd-request" as const),
      method: fc.constantFrom("GET", "PUT", "DELETE", "OPTIONS", "PATCH", "POST"),
      path: fc.constantFrom(
        "/v1/lines",
        "/v1/lines?x=1",
        "/",
        "/v1/lines/",
        "/%00",
        "/../v1/lines",
        "//v1/lines",
      ),
      encoding: fc.constantFrom("identity", "gzip", "deflate", "br", "GZIP", "x-gzip", "gzip, gzip", ""),
    }),
  },
);

/** Cases that take seconds each (they wait on the server's timeouts): run a few, alongside. */
export const slowHttpCase: fc.Arbitrary<HttpCase> = fc.oneof(
  fc.record({
    kind: fc.constant("trickle" as const),
    parts: fc.array(bodyPart, { minLength: 1, maxLength: 4 }),
    pauseMs: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({
    kind: fc.constant("short-body-then-wait" as const),
    declared: fc.integer({ min: 41, max: FUZZ_LIMITS.maxBodyBytes }),
    sent: shortBody,
  }),
);

// ---- running a case -----------------------------------------------------------------------------

interface RawResult {
  /** The status line's code, when a response came. */
  readonly status?: number;
  readonly body: string;
  /** The server closed the connection (FIN or RST) before `waitMs` was up. */
  readonly closedByServer: boolean;
}

/** Writes `chunks` (pausing between them) on a fresh connection and reads until the server closes it. */
export function rawExchange(
  port: number,
  chunks: readonly Buffer[],
  options: { pauseMs?: number; endAfterWrite?: boolean; waitMs: number },
): Promise<RawResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port });
    const received: Buffer[] = [];
    let settled = false;
    const finish = (closedByServer: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(received).toString("latin1");
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const bodyStart = text.indexOf("\r\n\r\n");
      resolve({
        ...(match && { status: Number(match[1]) }),
        body: bodyStart >= 0 ? text.slice(bodyStart + 4) : "",
        closedByServer,
      });
    };
    const timer = setTimeout(() => finish(false), options.waitMs);
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("connect", () => {
      void (async () => {
        for (const chunk of chunks) {
          if (settled || socket.destroyed) return;
          socket.write(chunk);
          if (options.pauseMs) await delay(options.pauseMs);
        }
        if (options.endAfterWrite && !socket.destroyed) socket.end();
      })();
    });
  });
}

function partsToBody(parts: readonly BodyPart[], good: GoodLines): { body: Buffer; goodLines: number } {
  let goodLines = 0;
  const pieces = parts.map((part) => {
    if (part.good) {
      goodLines++;
      return Buffer.from(good.line());
    }
    return Buffer.from(part.bytes);
  });
  return { body: Buffer.concat(pieces.flatMap((piece) => [piece, Buffer.from("\n")])), goodLines };
}

/** The lines the server will see in a body: split on LF, a trailing empty piece dropped. */
function linesIn(body: Buffer): number {
  const lines = body.toString("latin1").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines.length;
}

function request(
  method: string,
  path: string,
  headers: Record<string, string | number>,
  body: Buffer = Buffer.alloc(0),
): Buffer {
  const head = [
    `${method} ${path} HTTP/1.1`,
    `Host: ${LOOPBACK}`,
    "Connection: close",
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  return Buffer.concat([Buffer.from(`${head.join("\r\n")}\r\n\r\n`, "latin1"), body]);
}

export interface CaseTally {
  cases: number;
  /** Good lines the server said it accepted (they must all reach Carbon). */
  accepted: number;
  byStatus: Map<string, number>;
}

export function newTally(): CaseTally {
  return { cases: 0, accepted: 0, byStatus: new Map() };
}

/** `lines` undefined: the body's line count is not known here (random gzip, chunked). */
function checkReply(result: RawResult, lines: number | undefined, goodLines: number): number {
  assert.equal(result.status, 200, `expected 200, got ${result.status}: ${result.body.slice(0, 300)}`);
  const reply = JSON.parse(result.body) as {
    accepted: number;
    rejected: Record<string, number>;
    errors: unknown[];
  };
  const rejected = Object.entries(reply.rejected);
  for (const [reason] of rejected)
    assert.ok((ALL_REJECT_REASONS as readonly string[]).includes(reason), reason);
  const decided = reply.accepted + rejected.reduce((sum, [, count]) => sum + count, 0);
  if (lines !== undefined) assert.equal(decided, lines, "every line of the body is decided, once");
  assert.equal(reply.accepted, goodLines, "exactly the good lines are accepted");
  assert.ok(reply.errors.length <= 10);
  return reply.accepted;
}

/** Runs one case against the server on `port`; throws when the server's answer is wrong. */
export async function runHttpCase(
  port: number,
  testCase: HttpCase,
  good: GoodLines,
  tally: CaseTally,
): Promise<void> {
  const path = "/v1/lines";
  const waitMs = 10_000;
  let status: number | undefined;
  switch (testCase.kind) {
    case "body": {
      const { body, goodLines } = partsToBody(testCase.parts, good);
      if (testCase.gzip === "none") {
        const result = await rawExchange(
          port,
          [request("POST", path, { "Content-Length": body.length }, body)],
          { waitMs },
        );
        tally.accepted += checkReply(result, linesIn(body), goodLines);
        status = result.status;
      } else {
        const zipped = gzipSync(body);
        const cut = testCase.gzip === "whole" ? zipped.length : testCase.cut % zipped.length;
        const sent = zipped.subarray(0, cut);
        const result = await rawExchange(
          port,
          [request("POST", path, { "Content-Length": sent.length, "Content-Encoding": "gzip" }, sent)],
          { waitMs },
        );
        status = result.status;
        if (testCase.gzip === "whole") tally.accepted += checkReply(result, linesIn(body), goodLines);
        else
          assert.equal(result.status, 400, `truncated gzip: ${result.status} ${result.body.slice(0, 200)}`);
      }
      break;
    }
    case "random-gzip": {
      const bytes = Buffer.from(testCase.bytes);
      const result = await rawExchange(
        port,
        [request("POST", path, { "Content-Length": bytes.length, "Content-Encoding": "gzip" }, bytes)],
        { waitMs },
      );
      status = result.status;
      assert.ok(result.status === 400 || result.status === 200, `random gzip: ${result.status}`);
      if (result.status === 200) tally.accepted += checkReply(result, undefined, 0);
      break;
    }
    case "gzip-bomb": {
      const zipped = gzipSync(Buffer.alloc(testCase.inflated, "A"));
      const result = await rawExchange(
        port,
        [request("POST", path, { "Content-Length": zipped.length, "Content-Encoding": "gzip" }, zipped)],
        { waitMs },
      );
      status = result.status;
      assert.equal(result.status, 413);
      break;
    }
    case "too-large": {
      const body = Buffer.alloc(testCase.bytes, "x\n");
      const result = await rawExchange(
        port,
        [request("POST", path, { "Content-Length": body.length }, body)],
        { waitMs },
      );
      status = result.status;
      assert.equal(result.status, 413);
      break;
    }
    case "huge-content-length": {
      const result = await rawExchange(
        port,
        [request("POST", path, { "Content-Length": testCase.declared }, Buffer.from(testCase.sent))],
        { waitMs },
      );
      status = result.status;
      // Answered at once from the header, without waiting for a body that will never come.
      assert.equal(result.status, 413, `declared ${testCase.declared}: ${result.status}`);
      break;
    }
    case "short-body-then-close": {
      const result = await rawExchange(
        port,
        [request("POST", path, { "Content-Length": testCase.declared }, Buffer.from(testCase.sent))],
        { waitMs, endAfterWrite: true },
      );
      status = result.status;
      // Half-closed mid-body: the request can never complete. A 400 or a plain close are both fine.
      assert.ok(result.closedByServer, "the server closes a connection whose body was cut short");
      assert.ok(result.status === undefined || result.status === 400, `short body: ${result.status}`);
      break;
    }
    case "short-body-then-wait": {
      const result = await rawExchange(
        port,
        [request("POST", path, { "Content-Length": testCase.declared }, Buffer.from(testCase.sent))],
        { waitMs: FUZZ_LIMITS.idleTimeoutMs + 8000 },
      );
      status = result.status;
      assert.ok(result.closedByServer, "a body that stops coming is timed out by the server");
      assert.ok(
        result.status === undefined || result.status === 408 || result.status === 400,
        `stalled: ${result.status}`,
      );
      break;
    }
    case "raw-garbage": {
      const result = await rawExchange(port, [Buffer.from(testCase.bytes)], {
        waitMs: FUZZ_LIMITS.idleTimeoutMs + 8000,
        endAfterWrite: true,
      });
      status = result.status;
      assert.ok(result.closedByServer, "garbage in place of a request is answered or closed");
      break;
    }
    case "bad-chunked": {
      const head = request("POST", path, { "Transfer-Encoding": "chunked" });
      const result = await rawExchange(port, [head, Buffer.from(testCase.chunks.join(""), "latin1")], {
        waitMs: FUZZ_LIMITS.idleTimeoutMs + 8000,
        endAfterWrite: true,
      });
      status = result.status;
      assert.ok(result.closedByServer);
      if (result.status === 200) tally.accepted += checkReply(result, undefined, 0);
      break;
    }
    case "trickle": {
      const { body, goodLines } = partsToBody(testCase.parts, good);
      const whole = request("POST", path, { "Content-Length": body.length }, body);
      const bytes = [...whole].map((byte) => Buffer.from([byte]));
      const result = await rawExchange(port, bytes, { pauseMs: testCase.pauseMs, waitMs: 60_000 });
      status = result.status;
      tally.accepted += checkReply(result, linesIn(body), goodLines);
      break;
    }
    case "odd-request": {
      const body = Buffer.from("x\n");
      const headers: Record<string, string | number> = { "Content-Length": body.length };
      if (testCase.encoding) headers["Content-Encoding"] = testCase.encoding;
      const result = await rawExchange(port, [request(testCase.method, testCase.path, headers, body)], {
        waitMs,
      });
      status = result.status;
      assert.ok(
        result.status !== undefined && [200, 400, 404, 405].includes(result.status),
        `odd request: ${result.status}`,
      );
      if (result.status === 200) tally.accepted += checkReply(result, 1, 0);
      break;
    }
  }
  tally.cases++;
  const label = `${testCase.kind} ${status ?? "closed"}`;
  tally.byStatus.set(label, (tally.byStatus.get(label) ?? 0) + 1);
}
