import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createSyncCheck } from "../../../../agent/clock/sync-check.ts";
import { cannedRunner, RecordingLogger } from "../collect-fakes.ts";

const TIMEDATECTL = "timedatectl show -p NTPSynchronized --value";
const roots: string[] = [];

/** A root with the given marker files. */
function root(...files: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "homeward-sync-"));
  roots.push(dir);
  for (const file of files) {
    mkdirSync(join(dir, file, ".."), { recursive: true });
    writeFileSync(join(dir, file), "");
  }
  return dir;
}

after(() => {
  for (const dir of roots) rmSync(dir, { recursive: true, force: true });
});

describe("sync checks", () => {
  it("timesyncd: synchronized exactly when its flag file exists", async () => {
    assert.equal(
      await createSyncCheck("timesyncd", { root: root("run/systemd/timesync/synchronized") })(),
      true,
    );
    assert.equal(await createSyncCheck("timesyncd", { root: root() })(), false);
  });

  it("timedatectl: reads NTPSynchronized; a failure counts as not synchronized", async () => {
    const yes = cannedRunner({ [TIMEDATECTL]: { stdout: "yes\n" } });
    const no = cannedRunner({ [TIMEDATECTL]: { stdout: "no\n" } });
    const broken = cannedRunner({ [TIMEDATECTL]: { exitCode: 1, stderr: "Failed to connect to bus" } });
    assert.equal(await createSyncCheck("timedatectl", { run: yes })(), true);
    assert.equal(await createSyncCheck("timedatectl", { run: no })(), false);
    assert.equal(await createSyncCheck("timedatectl", { run: broken })(), false);
    assert.equal(await createSyncCheck("timedatectl", { run: cannedRunner({}) })(), false, "not installed");
  });

  it("auto: the flag file first, then timedatectl on a systemd machine", async () => {
    const calls: string[] = [];
    const no = cannedRunner({ [TIMEDATECTL]: { stdout: "no\n" } }, calls);
    const flagged = root("run/systemd/timesync/synchronized", "run/systemd/system/.keep");
    assert.equal(await createSyncCheck("auto", { root: flagged, run: no })(), true);
    assert.deepEqual(calls, [], "the flag answers without a process");

    const systemd = root("run/systemd/system/.keep");
    assert.equal(await createSyncCheck("auto", { root: systemd, run: no })(), false);
    const yes = cannedRunner({ [TIMEDATECTL]: { stdout: "yes\n" } });
    assert.equal(await createSyncCheck("auto", { root: systemd, run: yes })(), true);
  });

  it("auto: without systemd there is nothing to ask; it says so once and trusts the clock", async () => {
    const log = new RecordingLogger();
    const check = createSyncCheck("auto", { root: root(), run: cannedRunner({}), log });
    assert.equal(await check(), true);
    assert.equal(await check(), true);
    assert.equal(log.at("warn").length, 1);
  });

  it("none: always synchronized (the build-time floor still applies in the guard)", async () => {
    assert.equal(await createSyncCheck("none")(), true);
  });
});
