import { join } from "node:path";
import type { Logger } from "pino";
import { DiskQueue } from "../../queue/disk-queue.ts";
import { IntervalLog } from "../../runtime/log/interval-log.ts";

/**
 * Headroom between where the forwarder stops taking lines and where the queue would drop its
 * oldest: the forwarder checks between batches, so one batch (an HTTP body) may overshoot.
 */
const HEADROOM_BYTES = 16 * 1024 * 1024;
const MAX_UNWRITTEN_BYTES = 64 * 1024 * 1024;

/**
 * Opens the Carbon spool in `<stateDir>/spool`. A state dir that cannot be used is not fatal for
 * an amproxy drop-in: the server runs without a spool (lines wait in memory) and says so.
 */
export async function openSpool(
  stateDir: string,
  maxBytes: number,
  log: Logger,
): Promise<DiskQueue | undefined> {
  const dir = join(stateDir, "spool");
  const queueMaxBytes = maxBytes + Math.max(HEADROOM_BYTES, Math.ceil(maxBytes / 10));
  // A failing disk reports every write: once per interval per kind of problem (counts left out).
  const problems = new IntervalLog();
  try {
    return await DiskQueue.open({
      dir,
      maxBytes: queueMaxBytes,
      maxUnwrittenBytes: Math.min(MAX_UNWRITTEN_BYTES, Math.floor(queueMaxBytes / 2)),
      onProblem: (message) => {
        const gate = problems.take(message.replace(/\d+/g, "N"));
        if (gate) {
          log.error(
            { spool: dir, problem: message, ...(gate.unlogged > 0 && { unlogged_since: gate.unlogged }) },
            "spool problem",
          );
        }
      },
    });
  } catch (error) {
    log.error(
      { spool: dir, error: (error as Error).message },
      "cannot open the spool; running without one: lines for a Carbon that is down wait in memory",
    );
    return undefined;
  }
}
