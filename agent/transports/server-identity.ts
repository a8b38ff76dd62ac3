import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { checkServerIdentity } from "node:tls";
import type { PeerCertificate } from "node:tls";
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

/** The options node:tls and node:https take: `ca` and `checkServerIdentity`. */
export function tlsTrustOptions(options: ServerTrustOptions): {
  ca?: Buffer;
  checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
} {
  const pins = normalisePins(options.pinSha256);
  let ca: Buffer | undefined;
  if (options.caFile !== undefined) {
    try {
      ca = readFileSync(options.caFile);
    } catch (error) {
      throw new TransportOptionsError(`cannot read ca_file ${options.caFile}: ${(error as Error).message}`);
    }
  }
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
