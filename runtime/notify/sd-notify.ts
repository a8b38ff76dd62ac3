// sd_notify for a Type=notify systemd service: READY=1, WATCHDOG=1, STATUS=, STOPPING=1.
//
// Node cannot send on a unix datagram socket (node:dgram is UDP only, node:net is stream only), so
// each notification is sent by systemd's own `systemd-notify` helper, which every systemd machine
// has. The helper is a child process, so the unit needs NotifyAccess=all. It is run WITHOUT
// --no-block: it then waits for PID 1 to confirm it processed the message (a BARRIER=1 round trip),
// which closes the race in which PID 1 drops a message whose sender has already exited because it
// can no longer tell which unit the sender belonged to. The child is asynchronous, so nothing in
// this process waits for it.
//
// Cost: one short-lived child per notification; with WatchdogSec=60 that is one every 30 s (a
// few ms of CPU on a Pi Zero 2). WATCHDOG=1 is sent from a timer on the event loop: if the loop is
// blocked, the pings stop and systemd restarts the service, which is the point of the watchdog.
import { spawn } from "node:child_process";

/** Sends one notification: assignments such as READY=1, joined by newlines into one datagram. */
export type NotifySender = (assignments: readonly string[], env: NodeJS.ProcessEnv) => Promise<void>;

export interface NotifierOptions {
  /** The helper to run; default `systemd-notify` from PATH. */
  readonly command?: string;
  /** How long one helper may take before it is killed (its barrier wait included). */
  readonly timeoutMs?: number;
  /** Replaces the helper (tests, or a native sender). */
  readonly sender?: NotifySender;
  /** Called when a notification could not be sent; the service goes on either way. */
  readonly onError?: (error: Error) => void;
  /**
   * Remove NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from `env` once read (sd_notify's
   * unset_environment), so child processes (exec collectors) cannot notify on the service's behalf,
   * which NotifyAccess=all would otherwise let them do.
   */
  readonly unsetEnvironment?: boolean;
  /** This process's pid (WATCHDOG_PID names the process the watchdog is meant for). */
  readonly pid?: number;
}

export interface Notifier {
  /** False when NOTIFY_SOCKET is not set: every call is then a no-op. */
  readonly enabled: boolean;
  /** The WATCHDOG=1 period (half of WATCHDOG_USEC), or undefined when there is no watchdog. */
  readonly watchdogIntervalMs: number | undefined;
  /** READY=1 (with STATUS= when given): the service is up, and collecting. */
  ready(status?: string): void;
  /** STATUS=: one line shown by `systemctl status`. */
  status(text: string): void;
  /** Starts sending WATCHDOG=1 every watchdogIntervalMs from an unref'd event-loop timer. */
  watchdogStart(): void;
  watchdogStop(): void;
  /** STOPPING=1: the service is shutting down (stops the watchdog too). */
  stopping(status?: string): void;
  /** Stops the watchdog and waits for notifications already queued to be sent. */
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Most notifications waiting while one is being sent; beyond it the oldest STATUS-only ones go. */
const MAX_QUEUED = 16;

/** One line, printable: systemd splits assignments on newlines. */
function statusLine(text: string): string {
  const line = text.replace(/[\r\n]+/g, " ").trim();
  return `STATUS=${line.length > 200 ? `${line.slice(0, 199)}…` : line}`;
}

export function systemdNotifySender(
  command = "systemd-notify",
  timeoutMs = DEFAULT_TIMEOUT_MS,
): NotifySender {
  return (assignments, env) =>
    new Promise((resolve, reject) => {
      const child = spawn(command, [...assignments], {
        env: { PATH: env.PATH ?? "/usr/bin:/bin", NOTIFY_SOCKET: env.NOTIFY_SOCKET },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        if (stderr.length < 1000) stderr += chunk;
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      timer.unref();
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once("close", (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else
          reject(
            new Error(
              `${command} ${assignments.join(" ")}: ${signal ? `killed by ${signal}` : `exit ${code}`}${stderr ? `: ${stderr.trim()}` : ""}`,
            ),
          );
      });
    });
}

/** The WATCHDOG=1 period in ms from WATCHDOG_USEC/WATCHDOG_PID, or undefined. */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 1000 / 2));
}

const DISABLED: Notifier = {
  enabled: false,
  watchdogIntervalMs: undefined,
  ready: () => undefined,
  status: () => undefined,
  watchdogStart: () => undefined,
  watchdogStop: () => undefined,
  stopping: () => undefined,
  close: async () => undefined,
};

export function createNotifier(
  env: NodeJS.ProcessEnv = process.env,
  options: NotifierOptions = {},
): Notifier {
  const socket = env.NOTIFY_SOCKET;
  const intervalMs = watchdogInterval(env, options.pid ?? process.pid);
  const path = env.PATH;
  if (options.unsetEnvironment) {
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
  }
  if (!socket) return DISABLED;

  const sendEnv: NodeJS.ProcessEnv = { NOTIFY_SOCKET: socket, PATH: path };
  const send = options.sender ?? systemdNotifySender(options.command, options.timeoutMs);
  const queue: string[][] = [];
  let sending: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const pump = (): void => {
    if (sending || queue.length === 0) return;
    const next = queue.shift() as string[];
    sending = send(next, sendEnv)
      .catch((error: unknown) => options.onError?.(error instanceof Error ? error : new Error(String(error))))
      .finally(() => {
        sending = undefined;
        pump();
      });
  };

  const enqueue = (assignments: string[]): void => {
    // A watchdog ping already waiting makes another one pointless.
    if (
      assignments.length === 1 &&
      assignments[0] === "WATCHDOG=1" &&
      queue.some((q) => q[0] === "WATCHDOG=1")
    )
      return;
    queue.push(assignments);
    while (queue.length > MAX_QUEUED) {
      const statusOnly = queue.findIndex((q) =>
        q.every((a) => a.startsWith("STATUS=") || a === "WATCHDOG=1"),
      );
      queue.splice(statusOnly >= 0 ? statusOnly : 0, 1);
    }
    pump();
  };

  const watchdogStop = (): void => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };

  return {
    enabled: true,
    watchdogIntervalMs: intervalMs,
    ready(status) {
      enqueue(status === undefined ? ["READY=1"] : ["READY=1", statusLine(status)]);
    },
    status(text) {
      enqueue([statusLine(text)]);
    },
    watchdogStart() {
      if (intervalMs === undefined || timer || stopped) return;
      enqueue(["WATCHDOG=1"]);
      timer = setInterval(() => enqueue(["WATCHDOG=1"]), intervalMs);
      timer.unref();
    },
    watchdogStop,
    stopping(status) {
      stopped = true;
      watchdogStop();
      enqueue(status === undefined ? ["STOPPING=1"] : ["STOPPING=1", statusLine(status)]);
    },
    async close() {
      watchdogStop();
      while (sending) await sending;
    },
  };
}
