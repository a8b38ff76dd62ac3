import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ExecCollector, parseExecOutput } from "../../../../agent/collectors/exec.ts";
import { CommandError } from "../../../../hardware/command.ts";
import { RecordingLogger } from "../collect-fakes.ts";

const NOW = Date.UTC(2026, 10, 23, 12);
const NOW_S = NOW / 1000;

function context(log = new RecordingLogger()) {
  return { now: NOW, signal: new AbortController().signal, log };
}

/** argv that runs a small Node script: no shell, and Node is always there. */
function node(script: string): string[] {
  return [process.execPath, "-e", script];
}

describe("parseExecOutput", () => {
  it("takes `metric value [timestamp]` lines and skips blanks and comments", () => {
    const output = [
      "# HELP from a textfile collector",
      "",
      "temp.garage 21.5",
      "door.open 1 1795420000",
      "  humidity   48  ",
      "pressure -1.5e3\r",
    ].join("\n");
    assert.deepEqual(parseExecOutput(`${output}\n`, NOW_S), {
      readings: [
        { name: "temp.garage", value: 21.5 },
        { name: "door.open", value: 1, timestamp: 1795420000 },
        { name: "humidity", value: 48 },
        { name: "pressure", value: -1500 },
      ],
      problems: [],
    });
  });

  it("reports each bad line with its line number and keeps the good ones", () => {
    const output = [
      "good 1",
      "lonely",
      "bad/name 2",
      "nan NaN",
      "soon 3 2000000000000",
      "ts 4 12.5",
      "too many fields here",
      "also.good 5",
    ].join("\n");
    const { readings, problems } = parseExecOutput(output, NOW_S);
    assert.deepEqual(readings, [
      { name: "good", value: 1 },
      { name: "also.good", value: 5 },
    ]);
    assert.deepEqual(
      problems.map((problem) => [problem.line, problem.problem]),
      [
        [2, 'expected "metric value [timestamp]", got 1 field'],
        [3, "metric must be segments of [A-Za-z0-9_:-] joined by dots"],
        [4, "value must be a finite decimal number"],
        [5, "timestamp is in the future (milliseconds instead of seconds?)"],
        [6, "timestamp must be whole Unix seconds"],
        [7, 'expected "metric value [timestamp]", got 4 fields'],
      ],
    );
  });
});

describe("ExecCollector", () => {
  it("runs the command without a shell and returns its readings", async () => {
    const collector = new ExecCollector({
      name: "sensors",
      command: node(`console.log("temp.garage 21.5"); console.log("argv " + process.argv.length)`),
      timeoutMs: 10_000,
    });
    assert.equal(collector.name, "exec.sensors");
    assert.deepEqual(await collector.collect(context()), [
      { name: "temp.garage", value: 21.5 },
      { name: "argv", value: 1 },
    ]);
  });

  it("passes arguments literally: no shell expansion", async () => {
    const collector = new ExecCollector({
      name: "literal",
      command: [process.execPath, "-e", "console.log('args ' + process.argv.slice(1).length)", "$HOME", "*"],
      timeoutMs: 10_000,
    });
    assert.deepEqual(await collector.collect(context()), [{ name: "args", value: 2 }]);
  });

  it("logs bad lines with their numbers and still counts the good ones", async () => {
    const log = new RecordingLogger();
    const collector = new ExecCollector({
      name: "mixed",
      command: node(`console.log("a 1\\nb x\\nc 3")`),
      timeoutMs: 10_000,
    });
    assert.deepEqual(await collector.collect(context(log)), [
      { name: "a", value: 1 },
      { name: "c", value: 3 },
    ]);
    const warning = log.at("warn")[0];
    assert.equal(warning?.fields.badLines, 1);
    assert.deepEqual(warning?.fields.problems, [
      { line: 2, problem: "value must be a finite decimal number", text: "b x" },
    ]);
  });

  it("keeps the good lines of a command that exits with an error, and says so", async () => {
    const log = new RecordingLogger();
    const collector = new ExecCollector({
      name: "partial",
      command: node(`console.log("ok 1"); console.error("sensor 2 missing"); process.exit(3)`),
      timeoutMs: 10_000,
    });
    assert.deepEqual(await collector.collect(context(log)), [{ name: "ok", value: 1 }]);
    assert.equal(log.at("warn")[0]?.fields.exitCode, 3);
    assert.equal(log.at("warn")[0]?.fields.stderr, "sensor 2 missing");
  });

  it("kills a command that outlives its timeout and fails the run", async () => {
    const collector = new ExecCollector({
      name: "hung",
      command: node(`console.log("early 1"); setTimeout(() => {}, 60_000)`),
      timeoutMs: 500,
    });
    const started = Date.now();
    await assert.rejects(collector.collect(context()), (error: unknown) => {
      assert.ok(error instanceof CommandError);
      assert.equal(error.code, "timeout");
      return true;
    });
    assert.ok(Date.now() - started < 5_000);
  });

  it("fails the run when the command does not exist", async () => {
    const collector = new ExecCollector({
      name: "missing",
      command: ["/nonexistent/homeward-probe"],
      timeoutMs: 1000,
    });
    await assert.rejects(
      collector.collect(context()),
      (error: unknown) => error instanceof CommandError && error.code === "not_found",
    );
  });

  it("kills a command that floods its output", async () => {
    const collector = new ExecCollector({
      name: "flood",
      command: node(`const line = "x 1\\n".repeat(1000); for (;;) process.stdout.write(line)`),
      timeoutMs: 10_000,
      maxOutputBytes: 64 * 1024,
    });
    await assert.rejects(
      collector.collect(context()),
      (error: unknown) => error instanceof CommandError && error.code === "output_too_large",
    );
  });

  it("stops the command when the run is aborted", async () => {
    const controller = new AbortController();
    const collector = new ExecCollector({
      name: "aborted",
      command: node("setTimeout(() => {}, 60_000)"),
      timeoutMs: 60_000,
    });
    const run = collector.collect({ ...context(), signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    await assert.rejects(run, (error: unknown) => error instanceof CommandError && error.code === "aborted");
  });
});
