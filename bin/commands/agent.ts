import {
  ConfigError,
  DEFAULT_CONFIG_PATH,
  DEFAULT_STATE_DIR,
  loadAgentConfig,
} from "../../agent/config/load.ts";
import { createLineLogger } from "../../runtime/log/line-logger.ts";
import { LOG_FORMATS } from "../../runtime/log/formats.ts";
import type { LogFormat } from "../../runtime/log/formats.ts";
import { ExitCode, optionalString, parseCommandArgs, UsageError } from "../cli.ts";
import type { Command } from "../cli.ts";

const USAGE = `Usage: homeward agent [--config <file>] [--state-dir <dir>] [--check] [--log-format logfmt|json]

Runs the agent: collects readings on their schedules, signs every line with the device key, buffers
them on disk and ships them to the owner's server.

  --config      the owner's config file, never written (default ${DEFAULT_CONFIG_PATH})
  --state-dir   buffer, overrides and status (default ${DEFAULT_STATE_DIR})
  --check       validate the config and the key, send one signed test line, say what is wrong
  --log-format  logfmt (default) or json; logs go to stdout, which journald collects

Signals: SIGTERM/SIGINT stop after flushing the buffer; SIGHUP re-reads the config file.`;

export const agentCommand: Command = {
  name: "agent",
  usage: USAGE,
  async run(argv, io) {
    const { values, help } = parseCommandArgs(argv, {
      config: { type: "string" },
      "state-dir": { type: "string" },
      check: { type: "boolean" },
      "log-format": { type: "string" },
    });
    if (help) {
      io.stdout.write(`${USAGE}\n`);
      return ExitCode.Ok;
    }
    const logFormat = (optionalString(values, "log-format") ?? "logfmt") as LogFormat;
    if (!LOG_FORMATS.includes(logFormat)) throw new UsageError("--log-format must be logfmt or json");
    const configPath = optionalString(values, "config") ?? DEFAULT_CONFIG_PATH;
    const stateDir = optionalString(values, "state-dir") ?? DEFAULT_STATE_DIR;

    let loaded;
    try {
      loaded = loadAgentConfig({ configPath, stateDir });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      io.stderr.write(`homeward agent: the config cannot be used:\n${error.message}\n`);
      return ExitCode.Failure;
    }

    if (values.check === true) {
      const { checkAgent } = await import("../../agent/check.ts");
      const results = await checkAgent(loaded, io.env);
      for (const result of results) io.stdout.write(`${result.ok ? "ok  " : "FAIL"} ${result.text}\n`);
      return results.every((result) => result.ok) ? ExitCode.Ok : ExitCode.Failure;
    }

    // pino's lines without pino (runtime/log/line-logger.ts): the agent runs for months on a Pi.
    const log = createLineLogger(logFormat, loaded.config.log.level);
    const { startAgent } = await import("../../agent/main.ts");
    const agent = await startAgent({ loaded, stateDir, log, env: io.env });
    // The signed MQTT control channel, only when the config has a control section (mqtt is loaded then).
    const control = loaded.config.control.url
      ? await (
          await import("../../agent/control/control-channel.ts")
        )
          .startControlChannel({
            loaded,
            onConfigChanged: (next) => agent.applyConfig(next),
            bufferDepth: () => agent.bufferDepth(),
            log,
          })
          .catch((error: unknown) => {
            log.error(
              { err: (error as Error).message },
              "the control channel cannot start; collecting goes on",
            );
            return undefined;
          })
      : undefined;
    await new Promise<void>((resolve) => {
      const reread = (): void => {
        try {
          const next = loadAgentConfig({ configPath, stateDir });
          void agent.applyConfig(next).then(
            () => control?.configReloaded(next),
            (error: unknown) =>
              log.error({ err: (error as Error).message }, "SIGHUP: the new config cannot be applied"),
          );
        } catch (error) {
          log.error(
            { err: (error as Error).message },
            "SIGHUP: the config file cannot be used; keeping the old one",
          );
        }
      };
      const stop = (signal: NodeJS.Signals): void => {
        log.info({ signal }, "signal received");
        process.off("SIGHUP", reread);
        void Promise.resolve(control?.stop())
          .then(() => agent.stop())
          .then(resolve);
      };
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
      process.on("SIGHUP", reread);
    });
    return ExitCode.Ok;
  },
};
