import type { ShipStatus } from "../../../../agent/status/ship-status.ts";

/** A status snapshot of a healthy agent, with fields overridden per test. */
export function sampleStatus(overrides: Partial<ShipStatus> = {}, now = Date.now()): ShipStatus {
  return {
    version: 1,
    pid: 4242,
    device: "grandma-pi",
    target: "https://metrics.example.org/v1/lines",
    host: "metrics.example.org",
    startedAt: now - 3 * 86_400_000,
    updatedAt: now - 4_000,
    lastShipAt: now - 12_000,
    lastError: null,
    shipErrors: 0,
    shippedLines: 123_456,
    droppedByReason: {},
    duplicates: 0,
    buffer: { depth: 0, bytes: 0, droppedOverflow: 0, droppedCorrupt: 0 },
    oldestReadingAt: null,
    nextAttemptAt: null,
    linesPerSecond: 50,
    catchUp: null,
    ...overrides,
  };
}
