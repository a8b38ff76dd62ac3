import { ConfigError, resolveServerOptions, SERVER_FLAGS, serverUsage } from "../../server-stub/config.ts";
import { createLogger } from "../../runtime/log/logger.ts";
import { startServer } from "../../server-stub/main.ts";
import { createNotifier } from "../../runtime/notify/sd-notify.ts";
import { ExitCode, parseCommandArgs, UsageError } from "../cli.ts";
import type { Command } from "../cli.ts";

export const serverCommand: Command = {
  name: "server",
  usage: serverUsage(),
  async run(argv, io) {
    const flagSpec = Object.fromEntries(
      SERVER_FLAGS.map((flag) => [
        flag.name,
        { type: "string" as const, ...(flag.multiple && { multiple: true }) },
      ]),
    );
    const { values, help } = parseCommandArgs(argv, flagSpec);
    if (help) {
      io.stdout.write(`${serverUsage()}\n`);
      return ExitCode.Ok;
    }
    let options;
    try {
      options = resolveServerOptions(values, io.env);
    } catch (error) {
      if (error instanceof ConfigError) throw new UsageError(error.message);
      throw error;
    }
    const log = createLogger(options.logFormat, options.logLevel);
    const server = await startServer(options, { log });
    // Type=notify in systemd/homeward-server.service: READY=1 once listening, WATCHDOG=1 from the event loop.
    const notifier = createNotifier(io.env, {
      unsetEnvironment: true,
      onError: (error) => log.warn({ err: error }, "systemd notification failed"),
    });
    notifier.ready("listening");
    notifier.watchdogStart();
    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals): void => {
        log.info({ signal }, "signal received");
        process.off("SIGHUP", hangUp);
        notifier.stopping("stopping");
        void server
          .close()
          .then(() => notifier.close())
          .then(resolve);
      };
      const hangUp = (): void => server.reload();
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
      process.on("SIGHUP", hangUp);
    });
    return ExitCode.Ok;
  },
};
