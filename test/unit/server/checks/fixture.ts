import pino from "pino";
import { hmacSigner } from "../../../../protocol/keys.ts";
import { canonicalMessage } from "../../../../protocol/line.ts";
import { parseAuthFile } from "../../../../server-stub/auth/auth-file.ts";
import type { AuthTable } from "../../../../server-stub/auth/auth-file.ts";
import type { CheckState } from "../../../../server-stub/checks/pipeline.ts";
import { Ingest } from "../../../../server-stub/ingest/ingest.ts";
import type { LineSink } from "../../../../server-stub/ingest/ingest.ts";
import { Dedupe } from "../../../../server-stub/limits/dedupe.ts";
import { FailureBudget } from "../../../../server-stub/limits/failure-budget.ts";
import type { FailureBudgetPolicy } from "../../../../server-stub/limits/failure-budget.ts";
import { BucketMap } from "../../../../server-stub/limits/token-bucket.ts";
import { RejectionLog } from "../../../../server-stub/log/rejection-log.ts";
import { ServerStats } from "../../../../server-stub/metrics/server-stats.ts";
import { SignatureChecker } from "../../../../server-stub/verify/signature-check.ts";

export const NOW_MS = 1_764_000_000_000;
export const NOW_S = NOW_MS / 1000;

export const AUTH = `apikeys:
  my_public_key:
    secret_key: my_secret_key
    metrics: [metric1, metric2]
  slow:
    secret_key: slow_secret
    metrics: [metric1]
    rate: 1
    burst: 1
`;

export function sign(
  metric: string,
  value: string | number,
  timestamp: number,
  keyId = "my_public_key",
  secret = "my_secret_key",
): string {
  const message = canonicalMessage({ metric, value: String(value), timestamp, keyId });
  return `${message} ${hmacSigner(secret).sign(message)}`;
}

/** The same line with the signature's first character changed: still valid base64, no longer a valid signature. */
export function tamper(line: string): string {
  return line.replace(
    / (.)(\S+)$/,
    (_all, first: string, rest: string) => ` ${first === "A" ? "B" : "A"}${rest}`,
  );
}

export class MemorySink implements LineSink {
  readonly lines: string[] = [];
  open = true;
  accepting(): boolean {
    return this.open;
  }
  async send(lines: string[]): Promise<void> {
    this.lines.push(...lines);
  }
}

export interface IngestFixture {
  readonly ingest: Ingest;
  readonly sink: MemorySink;
  readonly stats: ServerStats;
  readonly state: CheckState;
  readonly failures: FailureBudget;
  readonly signatures: SignatureChecker;
  clock: { now: number };
}

export function ingestFixture(
  options: {
    table?: AuthTable;
    sourceRate?: number;
    sourceBurst?: number;
    failures?: FailureBudgetPolicy;
    workers?: number;
  } = {},
): IngestFixture {
  const table = options.table ?? parseAuthFile(AUTH, "auth.yaml");
  const clock = { now: NOW_MS };
  const state: CheckState = {
    auth: () => table,
    maxLineBytes: 1024,
    keyBuckets: new BucketMap(1000),
    sourceBuckets: new BucketMap(1000),
    keyPolicy: (entry) => ({ rate: entry.rate ?? 1000, burst: entry.burst ?? 1000 }),
    sourcePolicy: { rate: options.sourceRate ?? 1000, burst: options.sourceBurst ?? 1000 },
    window: { skewMs: 300_000, maxAgeMs: 7 * 86_400_000 },
    dedupe: new Dedupe({ windowMs: 600_000, maxEntries: 10_000 }),
  };
  const sink = new MemorySink();
  const stats = new ServerStats();
  const failures = new FailureBudget(options.failures ?? { maxFailures: 0, windowMs: 1000, blockMs: 1000 });
  const signatures = new SignatureChecker({ workers: options.workers ?? 0 });
  const ingest = new Ingest({
    state,
    signatures,
    sink,
    failures,
    stats,
    rejections: new RejectionLog(pino({ level: "silent" })),
    clock: () => clock.now,
  });
  return { ingest, sink, stats, state, failures, signatures, clock };
}
