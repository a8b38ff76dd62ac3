import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createNotifier, watchdogInterval } from "../../runtime/notify/sd-notify.ts";
import { REPO_ROOT } from "../support/vectors.ts";
import { openNotifySocket } from "./support/notify-socket.ts";
import type { Notification, NotifySocket } from "./support/notify-socket.ts";

function runNode(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("sd_notify through systemd-notify, under a test NOTIFY_SOCKET", () => {
  let dir: string;
  let socket: NotifySocket;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "homeward-notify-"));
    socket = await openNotifySocket(join(dir, "notify.sock"));
  });
  after(async () => {
    await socket?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends READY=1, then WATCHDOG=1 from the event loop (none while it is blocked), then STOPPING=1", async () => {
    const result = await runNode(["--import", "tsx", "test/e2e/fixtures/notify-program.ts"], {
      ...process.env,
      NOTIFY_SOCKET: socket.path,
      WATCHDOG_USEC: "300000",
      BLOCK_AFTER_MS: "1000",
      BLOCK_MS: "1500",
      RUN_AFTER_MS: "1000",
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /watchdog every 150 ms/);
    assert.match(result.stdout, /closed/);
    assert.equal(result.stderr, "");

    // systemd-notify follows each message with a BARRIER=1 (PID 1 answers it; the receiver does too).
    const messages: Notification[] = socket.received.filter((message) => message.text !== "BARRIER=1");
    assert.ok(messages.length > 0, "nothing was received");
    assert.equal(messages[0]?.text, "READY=1\nSTATUS=collecting");
    assert.equal(messages.at(-1)?.text, "STOPPING=1\nSTATUS=bye");
    const pings = messages.filter((message) => message.text === "WATCHDOG=1");
    // About 1 s before the block and 1 s after it, every 150 ms: well over 6 pings.
    assert.ok(pings.length >= 6, `only ${pings.length} WATCHDOG=1`);
    const readyAt = messages[0]?.at as number;
    assert.ok(pings.every((ping) => ping.at >= readyAt));
    const gaps = pings.slice(1).map((ping, index) => ping.at - (pings[index] as Notification).at);
    // The 1.5 s block shows as one long silence; the other gaps are about 150 ms.
    const longGaps = gaps.filter((gap) => gap > 1.2);
    assert.equal(longGaps.length, 1, `gaps: ${gaps.map((gap) => gap.toFixed(2)).join(" ")}`);
    const pingsBeforeBlock = pings.filter((ping) => ping.at < readyAt + 0.95);
    assert.ok(pingsBeforeBlock.length >= 3, `${pingsBeforeBlock.length} pings in the first second`);
  });
});

describe("createNotifier", () => {
  it("does nothing without NOTIFY_SOCKET", async () => {
    const notifier = createNotifier({ WATCHDOG_USEC: "1000000" });
    assert.equal(notifier.enabled, false);
    notifier.ready();
    notifier.watchdogStart();
    await notifier.close();
  });

  it("reads the watchdog period, only for the process WATCHDOG_PID names", () => {
    assert.equal(watchdogInterval({ WATCHDOG_USEC: "60000000" }, 42), 30_000);
    assert.equal(watchdogInterval({ WATCHDOG_USEC: "60000000", WATCHDOG_PID: "42" }, 42), 30_000);
    assert.equal(watchdogInterval({ WATCHDOG_USEC: "60000000", WATCHDOG_PID: "7" }, 42), undefined);
    assert.equal(watchdogInterval({ WATCHDOG_USEC: "0" }, 42), undefined);
    assert.equal(watchdogInterval({ WATCHDOG_USEC: "soon" }, 42), undefined);
    assert.equal(watchdogInterval({}, 42), undefined);
  });

  it("sends in order, one at a time, folds waiting watchdog pings, and cleans the environment", async () => {
    const sent: string[] = [];
    let inFlight = 0;
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: "/run/x", WATCHDOG_USEC: "2000000", WATCHDOG_PID: "99" };
    const notifier = createNotifier(env, {
      pid: 99,
      unsetEnvironment: true,
      sender: async (assignments, sendEnv) => {
        assert.equal(sendEnv.NOTIFY_SOCKET, "/run/x");
        inFlight += 1;
        assert.equal(inFlight, 1);
        await new Promise((resolve) => setTimeout(resolve, 5));
        sent.push(assignments.join(" "));
        inFlight -= 1;
      },
    });
    assert.deepEqual(env, {});
    assert.equal(notifier.watchdogIntervalMs, 1000);
    notifier.ready("up\nand running");
    notifier.watchdogStart();
    notifier.watchdogStart();
    notifier.status("x".repeat(500));
    notifier.stopping();
    await notifier.close();
    assert.equal(sent[0], "READY=1 STATUS=up and running");
    assert.equal(sent[1], "WATCHDOG=1");
    assert.match(sent[2] as string, /^STATUS=x{199}…$/);
    assert.equal(sent[3], "STOPPING=1");
    assert.equal(sent.length, 4);
  });

  it("reports a failing helper and goes on", async () => {
    const errors: string[] = [];
    const notifier = createNotifier(
      { NOTIFY_SOCKET: "/nonexistent/notify.sock", PATH: process.env.PATH },
      { onError: (error) => errors.push(error.message) },
    );
    notifier.ready();
    await notifier.close();
    assert.equal(errors.length, 1);
    assert.match(errors[0] as string, /systemd-notify READY=1/);
  });
});
