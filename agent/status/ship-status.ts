import type { CatchUpProgress } from "../ship/catch-up.ts";

/**
 * What the shipper knows about itself: read in-process by the `self` collector, and written to
 * `<stateDir>/status.json` for `homeward status` (a separate process). Times are Unix epoch
 * milliseconds; null means "never" or "not now". Counters run from the agent's start.
 */
export interface ShipStatus {
  /** Bumped when a field changes meaning; readers refuse other versions. */
  readonly version: typeof SHIP_STATUS_VERSION;
  readonly pid: number;
  /** The device's key id, when the agent passed it. */
  readonly device: string | null;
  /** Where lines go, e.g. "https://metrics.example.org/v1/lines". */
  readonly target: string;
  /** The target's host name, for plain-words messages. */
  readonly host: string;
  readonly startedAt: number;
  /** When this snapshot was taken. */
  readonly updatedAt: number;
  /** The last time the server took a batch. */
  readonly lastShipAt: number | null;
  readonly lastError: { readonly message: string; readonly at: number } | null;
  /** Failed send attempts (retries and refusals). */
  readonly shipErrors: number;
  /** Lines the server accepted. */
  readonly shippedLines: number;
  /** Lines the server refused for good, by RejectReason; they are dropped from the buffer. */
  readonly droppedByReason: Readonly<Record<string, number>>;
  /** Lines the server already had (a batch sent again after a lost reply): delivered, not dropped. */
  readonly duplicates: number;
  readonly buffer: {
    /** Lines waiting to be sent. */
    readonly depth: number;
    readonly bytes: number;
    /** Lines dropped because the buffer was full (the oldest go first). */
    readonly droppedOverflow: number;
    /** Lines lost to a damaged buffer file (torn tail, bad checksum). */
    readonly droppedCorrupt: number;
    /**
     * Lines lost because the disk refused writes (read-only, full) for so long that the ones
     * waiting in memory outgrew their bound (the oldest go first). Absent in older status files.
     */
    readonly droppedUnwritten?: number;
    /** While the disk buffer cannot be written (read-only, full): why. Readings wait in memory meanwhile. */
    readonly problem?: string;
  };
  /** The timestamp of the oldest line waiting; null when nothing waits. */
  readonly oldestReadingAt: number | null;
  /** While waiting to retry: when the next attempt is due. */
  readonly nextAttemptAt: number | null;
  /** The sending rate cap, lines per second. */
  readonly linesPerSecond: number;
  readonly catchUp: CatchUpProgress | null;
}

export const SHIP_STATUS_VERSION = 1;
export const STATUS_FILE_NAME = "status.json";

/** Why a status file cannot be used, in words for `homeward status`. */
export class ShipStatusError extends Error {
  override readonly name = "ShipStatusError";
}

const isNumber = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);
const isTime = (value: unknown): boolean => value === null || isNumber(value);

/** Checks the shape of a parsed status file; throws ShipStatusError naming the first bad field. */
export function checkShipStatus(data: unknown): ShipStatus {
  if (typeof data !== "object" || data === null) throw new ShipStatusError("it is not a JSON object");
  const record = data as Record<string, unknown>;
  if (record.version !== SHIP_STATUS_VERSION) {
    throw new ShipStatusError(
      `it is version ${String(record.version)}; this homeward reads version ${SHIP_STATUS_VERSION}`,
    );
  }
  const fail = (field: string): never => {
    throw new ShipStatusError(`field "${field}" is missing or of the wrong type`);
  };
  for (const field of [
    "pid",
    "startedAt",
    "updatedAt",
    "shipErrors",
    "shippedLines",
    "duplicates",
    "linesPerSecond",
  ]) {
    if (!isNumber(record[field])) fail(field);
  }
  for (const field of ["lastShipAt", "oldestReadingAt", "nextAttemptAt"])
    if (!isTime(record[field])) fail(field);
  for (const field of ["target", "host"]) if (typeof record[field] !== "string") fail(field);
  if (record.device !== null && typeof record.device !== "string") fail("device");
  const buffer = record.buffer as Record<string, unknown> | null;
  if (typeof buffer !== "object" || buffer === null) fail("buffer");
  for (const field of ["depth", "bytes", "droppedOverflow", "droppedCorrupt"]) {
    if (!isNumber(buffer?.[field])) fail(`buffer.${field}`);
  }
  if (buffer?.droppedUnwritten !== undefined && !isNumber(buffer.droppedUnwritten))
    fail("buffer.droppedUnwritten");
  if (buffer?.problem !== undefined && typeof buffer.problem !== "string") fail("buffer.problem");
  const dropped = record.droppedByReason;
  if (typeof dropped !== "object" || dropped === null || !Object.values(dropped).every(isNumber))
    fail("droppedByReason");
  const lastError = record.lastError as Record<string, unknown> | null;
  if (
    lastError !== null &&
    (typeof lastError !== "object" || typeof lastError.message !== "string" || !isNumber(lastError.at))
  ) {
    fail("lastError");
  }
  const catchUp = record.catchUp as Record<string, unknown> | null;
  if (catchUp !== null) {
    if (typeof catchUp !== "object") fail("catchUp");
    for (const field of ["startedAt", "backlogAtStart", "remaining", "fractionDone"]) {
      if (!isNumber(catchUp[field])) fail(`catchUp.${field}`);
    }
    if (!isTime(catchUp.etaMs)) fail("catchUp.etaMs");
  }
  return data as ShipStatus;
}
