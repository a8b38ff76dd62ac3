import { createHmac, hash, timingSafeEqual } from "node:crypto";
import { SIGNATURE_BYTES } from "../../protocol/keys.ts";
import type { MessageVerifier } from "../../protocol/keys.ts";

const BLOCK_BYTES = 64;
const SHA256 = "sha256";
const SIGNATURE_CHARS = 44;

/** An HMAC verifier that also checks a signature as it arrives on the wire, in base64. */
export interface HmacVerifier extends MessageVerifier {
  /**
   * Whether `signature` is exactly the padded base64 of the HMAC of `message`, which must be ASCII
   * (a parsed line's canonical message always is), compared in constant time. False says only that
   * it is not: checkSignature tells a bad encoding from a bad signature.
   */
  matches(asciiMessage: string, signature: string): boolean;
}

export function isHmacVerifier(verifier: MessageVerifier): verifier is HmacVerifier {
  return typeof (verifier as Partial<HmacVerifier>).matches === "function";
}

/**
 * HMAC-SHA256 as RFC 2104 spells it out, H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)), with the two padded
 * keys computed once per key and crypto.hash's one-shot calls per line. Nothing per line is a
 * Buffer: node:crypto allocating one for a 32-byte digest costs more than the digest. The inner
 * digest comes back as a latin1 string and is written into a block that already holds the outer
 * pad; the outer digest comes back as base64 and is compared with the signature as received, so
 * the signature is never decoded. Falls back to createHmac where crypto.hash is missing
 * (Node < 20.12), for a secret whose pads are not ASCII, and in `verify` for a message that is
 * not ASCII.
 */
export function fastHmacVerifier(secret: string): HmacVerifier {
  let key = Buffer.from(secret, "utf8");
  if (typeof hash !== "function") return createHmacVerifier(key);
  if (key.length > BLOCK_BYTES) key = hash(SHA256, key, "buffer");
  const inner = Buffer.alloc(BLOCK_BYTES, 0x36);
  const outer = Buffer.alloc(BLOCK_BYTES + SIGNATURE_BYTES.hmac, 0x5c);
  for (let index = 0; index < key.length; index++) {
    inner[index] = (inner[index] as number) ^ (key[index] as number);
    outer[index] = (outer[index] as number) ^ (key[index] as number);
  }
  // The inner pad is prepended to the message as a string, which crypto.hash encodes as UTF-8:
  // the same bytes only while the pad is ASCII.
  if (!inner.every((byte) => byte < 0x80)) return createHmacVerifier(key);
  const innerPad = inner.toString("latin1");
  const slow = createHmacVerifier(key);
  const matches = (asciiMessage: string, signature: string): boolean => {
    if (signature.length !== SIGNATURE_CHARS) return false;
    const innerDigest = hash(SHA256, innerPad + asciiMessage, "binary");
    for (let index = 0; index < SIGNATURE_BYTES.hmac; index++) {
      outer[BLOCK_BYTES + index] = innerDigest.charCodeAt(index);
    }
    return equalInConstantTime(hash(SHA256, outer, "base64"), signature);
  };
  return {
    algorithm: "hmac",
    matches,
    verify: (message, signature) =>
      signature.length === SIGNATURE_BYTES.hmac &&
      (isAscii(message) ? matches : slow.matches)(message, signature.toString("base64")),
  };
}

function createHmacVerifier(key: Buffer): HmacVerifier {
  const matches = (message: string, signature: string): boolean =>
    signature.length === SIGNATURE_CHARS &&
    equalInConstantTime(createHmac(SHA256, key).update(message, "utf8").digest("base64"), signature);
  return {
    algorithm: "hmac",
    matches,
    verify: (message, signature) =>
      signature.length === SIGNATURE_BYTES.hmac && matches(message, signature.toString("base64")),
  };
}

function isAscii(text: string): boolean {
  for (let index = 0; index < text.length; index++) if (text.charCodeAt(index) >= 0x80) return false;
  return true;
}

/**
 * The two sides of the compare, side by side in one reused buffer (JavaScript runs one check at a
 * time on this thread), so that one write fills both: each write into a Buffer is a call into C++
 * that cost about as much as the compare itself.
 */
const comparedText = Buffer.alloc(2 * SIGNATURE_CHARS);
const expectedText = comparedText.subarray(0, SIGNATURE_CHARS);
const presentedText = comparedText.subarray(SIGNATURE_CHARS);

/**
 * OpenSSL's CRYPTO_memcmp (timingSafeEqual) over the base64 text of the expected digest and of the
 * signature as received: no Buffer allocated per line, no early exit, and a non-canonical spelling
 * of the right digest never matches (it goes on to checkSignature, which names it). Both strings
 * are SIGNATURE_CHARS of base64 here, so the write fills the buffer exactly.
 */
function equalInConstantTime(expected: string, presented: string): boolean {
  if (expected.length !== SIGNATURE_CHARS || presented.length !== SIGNATURE_CHARS) return false;
  comparedText.write(expected + presented, "latin1");
  return timingSafeEqual(expectedText, presentedText);
}
