import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { disposeAfter, makeTempDir, removeTempDir, type AfterHook } from "./cleanup.ts";
import { freePorts, LOOPBACK } from "./free-port.ts";
import { spawnSupervised, waitForListening, type SupervisedProcess } from "./process.ts";
import { registerSecret } from "./test-logs.ts";

const execFileAsync = promisify(execFile);

export const MOSQUITTO = "/usr/sbin/mosquitto";
export const MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd";

export interface MosquittoTls {
  certFile: string;
  keyFile: string;
  /** CA that signed client certificates (and usually the server's). */
  caFile: string;
  /** Refuse TLS clients without a certificate signed by `caFile` (default false). */
  requireCertificate?: boolean;
}

export interface MosquittoOptions {
  /** Username → password, written to a password file with mosquitto_passwd. */
  users?: Record<string, string>;
  /** Default: true without `users`, false with them. */
  allowAnonymous?: boolean;
  /** Adds a second, TLS listener on another free 127.0.0.1 port. */
  tls?: MosquittoTls;
  /** Extra mosquitto.conf lines, appended at the end (i.e. to the last listener). */
  extraConfig?: readonly string[];
  /** How long to wait for the broker to listen (default 15 s). */
  startTimeoutMs?: number;
  /** Test context (or `{ after }` of a suite): stop the broker and remove its files afterwards. */
  t?: AfterHook;
}

export interface Mosquitto {
  readonly host: typeof LOOPBACK;
  readonly port: number;
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string;
  readonly tlsPort: number | undefined;
  /** `mqtts://127.0.0.1:<tlsPort>` when a TLS listener was asked for. */
  readonly tlsUrl: string | undefined;
  readonly dir: string;
  readonly configFile: string;
  /** Where the broker saves retained messages, subscriptions and queued QoS 1/2 messages. */
  readonly persistenceDir: string;
  isRunning(): boolean;
  /** Starts the broker again on the same ports, config and persistence (after stop() or kill()). */
  start(): Promise<void>;
  /** SIGTERM (mosquitto saves its persistence file on the way out), SIGKILL after a deadline. */
  stop(): Promise<void>;
  /** SIGKILL: whatever changed since the last autosave is lost, as in a crash. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the broker and removes its temp dir. */
  dispose(): Promise<void>;
  /** The broker's recent log (all runs). */
  output(): string;
}

async function writePasswordFile(file: string, users: Record<string, string>): Promise<void> {
  let first = true;
  for (const [user, password] of Object.entries(users)) {
    registerSecret(`mosquitto password of ${user}`, password);
    // -b takes the password from the command line, -c (first user only) creates the file.
    const args = first ? ["-b", "-c", file, user, password] : ["-b", file, user, password];
    first = false;
    try {
      await execFileAsync(MOSQUITTO_PASSWD, args);
    } catch (error) {
      const failure = error as { stderr?: string; message: string };
      throw new Error(`mosquitto_passwd failed: ${failure.stderr?.trim() || failure.message}`, {
        cause: error,
      });
    }
  }
}

function isBindFailure(output: string): boolean {
  return /Address already in use/.test(output);
}

/**
 * Starts a real mosquitto on free 127.0.0.1 ports with its config, password file, certificates and
 * persistence in a fresh temp dir, and resolves once it accepts connections.
 */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const startTimeoutMs = options.startTimeoutMs ?? 15_000;
  const dir = makeTempDir("mosquitto");
  const persistenceDir = join(dir, "data");
  const configFile = join(dir, "mosquitto.conf");
  mkdirSync(persistenceDir);

  try {
    const passwordFile = options.users ? join(dir, "passwd") : undefined;
    if (passwordFile && options.users) await writePasswordFile(passwordFile, options.users);
    let tlsFiles: { certFile: string; keyFile: string; caFile: string } | undefined;
    if (options.tls) {
      // Copies, so the caller's files may live anywhere and be removed while the broker runs.
      tlsFiles = {
        certFile: join(dir, "server.crt"),
        keyFile: join(dir, "server.key"),
        caFile: join(dir, "ca.crt"),
      };
      copyFileSync(options.tls.certFile, tlsFiles.certFile);
      copyFileSync(options.tls.keyFile, tlsFiles.keyFile);
      copyFileSync(options.tls.caFile, tlsFiles.caFile);
    }
    const allowAnonymous = options.allowAnonymous ?? options.users === undefined;

    const writeConfig = (port: number, tlsPort: number | undefined): void => {
      const lines = [
        "# Written by test/harness/mosquitto.ts",
        // Started as root, mosquitto switches to the "mosquitto" user, which can read nothing in this
        // 0700 temp dir (nor anything under a private TMPDIR). Staying root is harmless for a broker
        // bound to 127.0.0.1 for one test, and needs no chown of every file it touches. As any other
        // user, mosquitto ignores this setting.
        ...(process.getuid?.() === 0 ? ["user root"] : []),
        "per_listener_settings false",
        `allow_anonymous ${allowAnonymous}`,
        ...(passwordFile ? [`password_file ${passwordFile}`] : []),
        "persistence true",
        `persistence_location ${persistenceDir}/`,
        "log_dest stderr", // unbuffered, unlike stdout into a pipe
        "log_type all",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        "connection_messages true",
        `listener ${port} ${LOOPBACK}`,
      ];
      if (tlsFiles && tlsPort !== undefined) {
        lines.push(
          `listener ${tlsPort} ${LOOPBACK}`,
          `cafile ${tlsFiles.caFile}`,
          `certfile ${tlsFiles.certFile}`,
          `keyfile ${tlsFiles.keyFile}`,
          `require_certificate ${options.tls?.requireCertificate ?? false}`,
        );
      }
      lines.push(...(options.extraConfig ?? []));
      writeFileSync(configFile, `${lines.join("\n")}\n`);
    };

    const portCount = options.tls ? 2 : 1;
    let ports = await freePorts(portCount);
    let proc: SupervisedProcess | undefined;
    let previousOutput = "";
    const launch = async (): Promise<void> => {
      if (proc && !proc.exitStatus()) throw new Error("mosquitto is already running");
      if (proc) previousOutput += proc.output();
      const current = spawnSupervised(MOSQUITTO, ["-c", configFile], { name: "mosquitto", cwd: dir });
      proc = current;
      // Logged once every listener is open; a port that answers before that is someone else's.
      await waitForListening(current, ports, startTimeoutMs, (output) =>
        /mosquitto version \S+ running/.test(output),
      );
    };

    // Retry on fresh ports if another process took one meanwhile, for the first start only.
    for (let attempt = 1; ; attempt++) {
      writeConfig(ports[0] as number, ports[1]);
      try {
        await launch();
        break;
      } catch (error) {
        await proc?.stop();
        if (attempt >= 3 || !isBindFailure(proc?.output() ?? "")) throw error;
        ports = await freePorts(portCount);
      }
    }

    const [port, tlsPort] = ports as [number, number | undefined];
    let disposed = false;
    const stop = async (): Promise<void> => {
      await proc?.stop();
    };
    const broker: Mosquitto = {
      host: LOOPBACK,
      port,
      url: `mqtt://${LOOPBACK}:${port}`,
      tlsPort,
      tlsUrl: tlsPort === undefined ? undefined : `mqtts://${LOOPBACK}:${tlsPort}`,
      dir,
      configFile,
      persistenceDir,
      isRunning: () => proc !== undefined && proc.exitStatus() === undefined,
      start: launch,
      stop,
      async kill() {
        await proc?.kill();
      },
      async restart() {
        await stop();
        await launch();
      },
      async dispose() {
        if (disposed) return;
        disposed = true;
        await stop();
        await removeTempDir(dir);
      },
      output: () => previousOutput + (proc?.output() ?? ""),
    };
    return disposeAfter(options.t, broker);
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}
