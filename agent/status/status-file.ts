import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisedFs } from "../../runtime/fs/promised-fs.ts";
import { checkShipStatus, ShipStatusError, STATUS_FILE_NAME } from "./ship-status.ts";
import type { ShipStatus } from "./ship-status.ts";

export const DEFAULT_STATUS_INTERVAL_MS = 10_000;
export const DEFAULT_STATUS_HEARTBEAT_MS = 60_000;

export function statusFilePath(stateDir: string): string {
  return join(stateDir, STATUS_FILE_NAME);
}

export interface StatusFileWriterOptions {
  readonly path: string;
  readonly snapshot: () => ShipStatus;
  /** How often the snapshot is checked, and the shortest gap between writes (default 10 s). */
  readonly intervalMs?: number;
  /**
   * Written at least this often even when nothing changed (default 60 s), so `homeward status` can
   * tell a quiet agent from a dead one by `updatedAt`.
   */
  readonly heartbeatMs?: number;
  readonly onError?: (error: unknown) => void;
}

/**
 * Keeps `<stateDir>/status.json` current for `homeward status`. SD-card friendly: at most one small
 * write per interval, only when something changed or the heartbeat is due, never fsynced (a status
 * lost to a power cut is rewritten seconds after boot). Each write goes to a temporary file renamed
 * over the old one, so a reader never sees half a file.
 */
export class StatusFileWriter {
  private readonly intervalMs: number;
  private readonly heartbeatMs: number;
  private timer: NodeJS.Timeout | undefined;
  private lastContent = "";
  private lastWrittenAt = Number.NEGATIVE_INFINITY;
  private writing: Promise<void> = Promise.resolve();
  private dirReady = false;

  constructor(private readonly options: StatusFileWriterOptions) {
    this.intervalMs = options.intervalMs ?? DEFAULT_STATUS_INTERVAL_MS;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_STATUS_HEARTBEAT_MS;
  }

  /** Writes once now, then checks every interval. */
  start(): void {
    if (this.timer !== undefined) return;
    void this.writeIfDue();
    this.timer = setInterval(() => void this.writeIfDue(), this.intervalMs);
    this.timer.unref();
  }

  /** Writes the current snapshot if it changed or the heartbeat is due. */
  writeIfDue(): Promise<void> {
    this.writing = this.writing.then(() => this.write(false));
    return this.writing;
  }

  /** Stops the timer and writes the final snapshot. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(() => this.write(true));
    await this.writing;
  }

  private async write(force: boolean): Promise<void> {
    const status = this.options.snapshot();
    const { updatedAt, ...rest } = status;
    const content = JSON.stringify(rest);
    const heartbeatDue = updatedAt - this.lastWrittenAt >= this.heartbeatMs;
    if (!force && content === this.lastContent && !heartbeatDue) return;
    const path = this.options.path;
    const temporary = `${path}.${process.pid}.tmp`;
    try {
      if (!this.dirReady) {
        await promisedFs.mkdir(dirname(path), { recursive: true });
        this.dirReady = true;
      }
      await promisedFs.writeFile(temporary, `${JSON.stringify(status, null, 2)}\n`, { mode: 0o644 });
      await promisedFs.rename(temporary, path);
      this.lastContent = content;
      this.lastWrittenAt = updatedAt;
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}

/** Reads and checks a status file; every failure is a ShipStatusError that says what is wrong. */
export function readStatusFile(path: string): ShipStatus {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new ShipStatusError(`no status file at ${path}: is the agent running?`);
    if (code === "EACCES") throw new ShipStatusError(`cannot read ${path}: permission denied (try sudo)`);
    throw new ShipStatusError(`cannot read ${path}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new ShipStatusError(`the status file ${path} is not valid JSON`);
  }
  try {
    return checkShipStatus(data);
  } catch (error) {
    throw new ShipStatusError(`the status file ${path} cannot be used: ${(error as Error).message}`);
  }
}
