import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { Reading } from "../../../../agent/collectors/collector.ts";
import { SystemCollector } from "../../../../agent/collectors/system.ts";
import type { StatfsResult } from "../../../../agent/collectors/system.ts";
import { FIXTURES, RecordingLogger } from "../collect-fakes.ts";

const work = mkdtempSync(join(tmpdir(), "homeward-system-"));
after(() => rmSync(work, { recursive: true, force: true }));

function context() {
  return {
    now: Date.UTC(2026, 10, 23, 12),
    signal: new AbortController().signal,
    log: new RecordingLogger(),
  };
}

function byName(readings: Reading[]): Map<string, number> {
  return new Map(readings.map((reading) => [reading.name, reading.value]));
}

describe("SystemCollector", () => {
  const statfsCalls: string[] = [];
  const statfs = async (path: string): Promise<StatfsResult> => {
    statfsCalls.push(path);
    return { bsize: 4096, blocks: 1000, bfree: 400, bavail: 350, files: 100, ffree: 75 };
  };

  it("reads load, memory, swap, interfaces, disks, processes, uptime and CPU temperature from /proc and /sys", async () => {
    const root = join(FIXTURES, "pi4-bookworm");
    const values = byName(await new SystemCollector({ root, statfs }).collect(context()));
    assert.equal(values.get("load.1m"), 0.52);
    assert.equal(values.get("load.15m"), 0.59);
    assert.equal(values.get("uptime_s"), 350735.47);
    assert.equal(values.get("processes.total"), 3);
    assert.equal(values.get("processes.running"), 2);
    assert.equal(values.get("processes.blocked"), 1);
    assert.equal(values.get("memory.total_bytes"), 3884332 * 1024);
    assert.equal(values.get("memory.available_bytes"), 2871524 * 1024);
    assert.equal(values.get("memory.used_bytes"), (3884332 - 2871524) * 1024);
    assert.equal(values.get("memory.used_pct"), 26.07);
    assert.equal(values.get("swap.used_bytes"), (524284 - 393212) * 1024);
    assert.equal(values.get("swap.used_pct"), 25);
    assert.equal(values.get("iface.eth0.rx_bytes"), 336312555);
    assert.equal(values.get("iface.eth0.rx_errors"), 2);
    assert.equal(values.get("iface.wlan0.tx_dropped"), 3);
    assert.equal(values.has("iface.lo.rx_bytes"), false, "loopback is left out");
    assert.equal(values.has("iface.veth12ab.rx_bytes"), false, "container veths are left out");
    assert.equal(values.get("diskio.mmcblk0.written_bytes"), 1134546 * 512);
    assert.equal(values.get("diskio.sda.reads"), 100);
    for (const skipped of ["mmcblk0p1", "mmcblk0p2", "loop0", "sda1", "zram0"]) {
      assert.equal(values.has(`diskio.${skipped}.reads`), false, skipped);
    }
    assert.equal(values.get("cpu_temp_c"), 48.312);
    assert.equal(values.has("cpu.busy_pct"), false, "CPU % needs two samples");

    // Block devices once each (the bind mount is skipped), never tmpfs, squashfs or NFS.
    assert.deepEqual(
      statfsCalls.map((path) => path.slice(root.length)),
      ["/", "/boot/firmware", "/media/usb stick"],
    );
    assert.equal(values.get("disk.root.total_bytes"), 4096 * 1000);
    assert.equal(values.get("disk.root.used_bytes"), 4096 * 600);
    assert.equal(values.get("disk.root.free_bytes"), 4096 * 350);
    assert.equal(values.get("disk.root.used_pct"), 63.16);
    assert.equal(values.get("disk.root.inodes_used_pct"), 25);
    assert.ok(values.has("disk.media_usb_stick.used_pct"));
    assert.ok(values.has("disk.boot_firmware.used_pct"));
  });

  it("computes CPU percentages from the change between two runs", async () => {
    const root = join(work, "cpu");
    cpSync(join(FIXTURES, "pi4-bookworm"), root, { recursive: true });
    const collector = new SystemCollector({ root, statfs });
    await collector.collect(context());
    writeFileSync(
      join(root, "proc/stat"),
      "cpu  10132453 290696 3084819 46828983 16783 0 25195 0 0 0\nprocs_running 1\nprocs_blocked 0\n",
    );
    const values = byName(await collector.collect(context()));
    // +300 user, +100 system, +500 idle, +100 iowait of 1000 ticks.
    assert.equal(values.get("cpu.user_pct"), 30);
    assert.equal(values.get("cpu.system_pct"), 10);
    assert.equal(values.get("cpu.iowait_pct"), 10);
    assert.equal(values.get("cpu.busy_pct"), 40);
  });

  it("restricts to the configured mounts and interfaces", async () => {
    statfsCalls.length = 0;
    const root = join(FIXTURES, "pi4-bookworm");
    const values = byName(
      await new SystemCollector({ root, statfs, mounts: ["/boot/firmware"], interfaces: ["wlan0"] }).collect(
        context(),
      ),
    );
    assert.deepEqual(statfsCalls, [join(root, "/boot/firmware")]);
    assert.ok(values.has("iface.wlan0.rx_bytes"));
    assert.equal(values.has("iface.eth0.rx_bytes"), false);
  });

  it("returns what exists on a machine with almost nothing", async () => {
    const readings = await new SystemCollector({ root: join(FIXTURES, "bare"), statfs }).collect(context());
    assert.deepEqual(readings, []);
  });

  it("works against the real /proc of this machine", async () => {
    const values = byName(await new SystemCollector({ root: "/" }).collect(context()));
    for (const name of ["load.1m", "memory.total_bytes", "uptime_s", "processes.total"]) {
      assert.ok((values.get(name) ?? -1) >= 0, name);
    }
  });
});
