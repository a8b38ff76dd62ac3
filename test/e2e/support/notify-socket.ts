// A stand-in for systemd's notification socket: a unix datagram socket (which Node cannot bind)
// held by a small python3 program that prints every datagram it gets as one JSON line, and closes
// the file descriptors that systemd-notify's BARRIER=1 sends, as PID 1 does, so the helper returns.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { setTimeout as delay } from "node:timers/promises";

const RECEIVER = `
import array, json, os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps({"bound": True}), flush=True)
while True:
    data, ancillary, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(64 * 4))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(json.dumps({"at": time.monotonic(), "text": data.decode("utf-8", "replace")}), flush=True)
`;

export const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

export interface Notification {
  /** Seconds, monotonic, as the receiver saw it. */
  readonly at: number;
  /** The datagram: assignments separated by newlines. */
  readonly text: string;
}

export interface NotifySocket {
  readonly path: string;
  readonly received: Notification[];
  close(): Promise<void>;
}

export async function openNotifySocket(path: string): Promise<NotifySocket> {
  const child: ChildProcess = spawn(PYTHON, ["-c", RECEIVER, path], { stdio: ["ignore", "pipe", "inherit"] });
  const received: Notification[] = [];
  let bound = false;
  let buffered = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    let newline = buffered.indexOf("\n");
    while (newline >= 0) {
      const record = JSON.parse(buffered.slice(0, newline)) as { bound?: boolean } & Notification;
      buffered = buffered.slice(newline + 1);
      if (record.bound) bound = true;
      else received.push({ at: record.at, text: record.text });
      newline = buffered.indexOf("\n");
    }
  });
  const deadline = Date.now() + 10_000;
  while (!bound) {
    if (child.exitCode !== null) throw new Error(`the notify socket receiver exited (${child.exitCode})`);
    if (Date.now() > deadline) throw new Error("the notify socket receiver did not start");
    await delay(20);
  }
  return {
    path,
    received,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}
