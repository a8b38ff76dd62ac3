import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { PeerCertificate } from "node:tls";
import { loadBuiltin } from "../run/lazy-builtin.ts";
import { TransportOptionsError } from "./transport.ts";

/** How the agent decides to trust the server: shared by the https and tls transports. */
export interface ServerTrustOptions {
  /** PEM file of the CA (or the server's own self-signed certificate) to trust instead of the
   * system's CAs. */
  readonly caFile?: string;
  /**
   * base64 SHA-256 of the server certificate's SubjectPublicKeyInfo, as HPKP's pin-sha256. Several
   * pins allow a key rotation (the current key and the next). Checked on top of the normal chain
   * and host name checks, never instead of them.
   */
  readonly pinSha256?: string | readonly string[];
}

export const PIN_MISMATCH = "ERR_HOMEWARD_PIN_MISMATCH";

export class PinMismatchError extends Error {
  override readonly name = "PinMismatchError";
  readonly code = PIN_MISMATCH;
}

/** base64 SHA-256 of a certificate's public key (SPKI, DER), the value `pinSha256` takes. */
export function spkiSha256(certificateDer: Buffer): string {
  const spki = new X509Certificate(certificateDer).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}

function normalisePins(pins: string | readonly string[] | undefined): readonly string[] {
  const list = pins === undefined ? [] : typeof pins === "string" ? [pins] : pins;
  for (const pin of list) {
    if (Buffer.from(pin, "base64").length !== 32 || !/^[A-Za-z0-9+/]{43}=$/.test(pin)) {
      throw new TransportOptionsError(
        `pin_sha256 "${pin}" is not the base64 of a SHA-256 digest (44 characters)`,
      );
    }
  }
  return list;
}

/** The trust settings, checked: the CA file read, the pins well-formed. */
export interface ServerTrust {
  readonly ca?: Buffer;
  readonly pins: readonly string[];
}

/**
 * Reads the CA file and checks the pins: called when a transport is made, so a mistake shows up
 * before any send (TransportOptionsError). Loads no TLS code: that waits for `tlsTrustOptions`.
 */
export function serverTrust(options: ServerTrustOptions): ServerTrust {
  const pins = normalisePins(options.pinSha256);
  if (options.caFile === undefined) return { pins };
  try {
    return { ca: readFileSync(options.caFile), pins };
  } catch (error) {
    throw new TransportOptionsError(`cannot read ca_file ${options.caFile}: ${(error as Error).message}`);
  }
}

/** What node:tls, node:https and mqtt take for `trust`: `ca` and `checkServerIdentity`. */
export interface TlsTrustOptions {
  ca?: Buffer;
  checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
}

/**
 * The options for a TLS connection trusting the server as `trust` says. node:tls is imported here,
 * at the first connection, never at start: an agent shipping over http:// or tcp:// never loads it.
 */
export async function tlsTrustOptions(trust: ServerTrust): Promise<TlsTrustOptions> {
  const { checkServerIdentity } = await loadBuiltin("node:tls");
  const { ca, pins } = trust;
  return {
    ...(ca === undefined ? {} : { ca }),
    checkServerIdentity(host, cert) {
      const nameError = checkServerIdentity(host, cert);
      if (nameError !== undefined || pins.length === 0) return nameError;
      const actual = spkiSha256(cert.raw);
      if (pins.includes(actual)) return undefined;
      return new PinMismatchError(
        `the server's certificate key (sha256 ${actual}) is not the pinned one (${pins.join(", ")})`,
      );
    },
  };
}
