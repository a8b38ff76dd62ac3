import type { Algorithm, MessageVerifier } from "./keys.ts";
import { SIGNATURE_BYTES } from "./keys.ts";
import { signedMessage } from "./line.ts";
import type { SignedLine } from "./line.ts";
import { RejectReason } from "./reasons.ts";

/**
 * Checks a parsed line's signature against every key of one entry (several while a key rotates).
 * Returns undefined when the signature is good, else the reason.
 *
 * The signature must be canonical base64 of the algorithm's exact size: otherwise one signature
 * could be written several ways, and a replayed line would slip past dedupe.
 */
export function checkSignature(
  line: SignedLine,
  algorithm: Algorithm,
  verifiers: readonly MessageVerifier[],
): RejectReason | undefined {
  const expectedBytes = SIGNATURE_BYTES[algorithm];
  const signature = Buffer.from(line.signature, "base64");
  if (signature.length !== expectedBytes) return RejectReason.BadSignatureLength;
  if (signature.toString("base64") !== line.signature) return RejectReason.BadSignatureEncoding;
  const message = signedMessage(line);
  for (const verifier of verifiers) {
    if (verifier.verify(message, signature)) return undefined;
  }
  return RejectReason.BadSignature;
}
