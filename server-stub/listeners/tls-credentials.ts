import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { SecureContextOptions } from "node:tls";
import { createSecureContext } from "node:tls";
import type { Logger } from "pino";
import { FileWatcher } from "../files/file-watcher.ts";

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** When set, clients must present a certificate signed by this CA (mTLS). */
  readonly caFile?: string;
}

export class TlsCredentialsError extends Error {
  override readonly name = "TlsCredentialsError";
}

/** How often a certificate in use is checked for having expired (it is also checked on every load). */
const VALIDITY_CHECK_MS = 60_000;

/**
 * The certificate, key and client CA for the TLS and HTTPS listeners, re-read when their files
 * change. A pair that does not load (a half-written renewal) keeps the last good one in force.
 */
export class TlsCredentials {
  private options: SecureContextOptions;
  private readonly watcher: FileWatcher;
  private readonly listeners: ((options: SecureContextOptions) => void)[] = [];
  private validityTimer: NodeJS.Timeout | undefined;
  reloads = 0;
  reloadErrors = 0;

  constructor(
    readonly files: TlsFiles,
    private readonly log: Logger,
    pollMs = 5000,
  ) {
    this.options = readCredentials(files);
    const paths = [files.certFile, files.keyFile, ...(files.caFile ? [files.caFile] : [])];
    this.watcher = new FileWatcher(paths, () => this.reload("changed"), { pollMs, debounceMs: 200 });
  }

  get requireClientCert(): boolean {
    return this.files.caFile !== undefined;
  }

  get current(): SecureContextOptions {
    return this.options;
  }

  start(): void {
    this.watcher.start();
    this.checkValidity("start");
    // An expired certificate is still served (stopping the listener would help no client, and a
    // renewal is picked up without a restart), and said so once per interval until it is replaced.
    this.validityTimer = setInterval(() => this.checkValidity("check"), VALIDITY_CHECK_MS);
    this.validityTimer.unref();
  }

  onReload(listener: (options: SecureContextOptions) => void): void {
    this.listeners.push(listener);
  }

  reload(trigger: string): boolean {
    this.watcher.remember();
    try {
      this.options = readCredentials(this.files);
      this.reloads++;
      for (const listener of this.listeners) listener(this.options);
      this.log.info({ cert_file: this.files.certFile, trigger }, "TLS certificate reloaded");
      this.checkValidity(trigger);
      return true;
    } catch (error) {
      this.reloadErrors++;
      this.log.error(
        { cert_file: this.files.certFile, trigger, error: (error as Error).message },
        "TLS certificate not reloaded; keeping the last good one",
      );
      return false;
    }
  }

  close(): void {
    this.watcher.close();
    if (this.validityTimer) clearInterval(this.validityTimer);
  }

  private checkValidity(trigger: string): void {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(this.options.cert as Buffer);
    } catch {
      return;
    }
    const now = Date.now();
    const problem =
      Date.parse(certificate.validTo) < now
        ? "TLS certificate has expired; clients that check it will refuse to connect"
        : Date.parse(certificate.validFrom) > now
          ? "TLS certificate is not valid yet (or this machine's clock is behind)"
          : undefined;
    if (problem) {
      this.log.warn(
        {
          cert_file: this.files.certFile,
          trigger,
          valid_from: certificate.validFrom,
          valid_to: certificate.validTo,
        },
        problem,
      );
    }
  }
}

function readCredentials(files: TlsFiles): SecureContextOptions {
  let options: SecureContextOptions;
  try {
    options = {
      cert: readFileSync(files.certFile),
      key: readFileSync(files.keyFile),
      ...(files.caFile && { ca: readFileSync(files.caFile) }),
    };
  } catch (error) {
    throw new TlsCredentialsError(`cannot read ${(error as NodeJS.ErrnoException).path ?? "a TLS file"}`);
  }
  try {
    // Fails here, not at the next handshake, when the key does not match the certificate.
    createSecureContext(options);
  } catch (error) {
    // OpenSSL's messages name the problem, never the key's bytes.
    throw new TlsCredentialsError(`certificate/key rejected: ${(error as Error).message}`);
  }
  return options;
}
