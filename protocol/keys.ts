import { createHmac, createPrivateKey, createPublicKey, sign, timingSafeEqual, verify } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { createSecretKey } from "node:crypto";
import nacl from "tweetnacl";

export type Algorithm = "ed25519" | "hmac";
export const ALGORITHMS: readonly Algorithm[] = ["ed25519", "hmac"];

/** Decoded signature sizes, by algorithm. */
export const SIGNATURE_BYTES: Readonly<Record<Algorithm, number>> = { ed25519: 64, hmac: 32 };

export const ED25519_SECRET_KEY_BYTES = 64;
export const ED25519_PUBLIC_KEY_BYTES = 32;

// DER headers that turn a raw 32-byte seed or public key into PKCS#8 / SPKI for node:crypto.
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export class KeyMaterialError extends Error {
  override readonly name = "KeyMaterialError";
}

export interface Ed25519KeyPair {
  /** NaCl/tweetnacl form: 32-byte seed followed by the 32-byte public key. */
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

export function generateEd25519KeyPair(): Ed25519KeyPair {
  const pair = nacl.sign.keyPair();
  return { secretKey: pair.secretKey, publicKey: pair.publicKey };
}

/** A random amproxy-style shared secret: printable, so it can sit in YAML and in KEY_PRIVATE. */
export function generateHmacSecret(): string {
  return Buffer.from(nacl.randomBytes(32)).toString("base64url");
}

/** Checks a NaCl 64-byte secret key (its public half must match its seed) and returns the public key. */
export function ed25519PublicKeyOf(secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== ED25519_SECRET_KEY_BYTES) {
    throw new KeyMaterialError(
      `an ed25519 secret key must be ${ED25519_SECRET_KEY_BYTES} bytes (NaCl seed and public key)`,
    );
  }
  const derived = nacl.sign.keyPair.fromSeed(secretKey.subarray(0, 32)).publicKey;
  if (!timingSafeEqual(derived, secretKey.subarray(32))) {
    throw new KeyMaterialError("the ed25519 secret key is corrupt: its public half does not match its seed");
  }
  return derived;
}

function ed25519PrivateKeyObject(secretKey: Uint8Array): KeyObject {
  ed25519PublicKeyOf(secretKey);
  const der = Buffer.concat([PKCS8_ED25519_PREFIX, secretKey.subarray(0, 32)]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

export function ed25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new KeyMaterialError(`an ed25519 public key must be ${ED25519_PUBLIC_KEY_BYTES} bytes`);
  }
  return createPublicKey({
    key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]),
    format: "der",
    type: "spki",
  });
}

/** Signs canonical messages. Key objects are built once, here, not per line. */
export interface MessageSigner {
  readonly algorithm: Algorithm;
  /** base64 with padding. */
  sign(message: string): string;
}

/** Checks one decoded signature against one key. */
export interface MessageVerifier {
  readonly algorithm: Algorithm;
  verify(message: string, signature: Buffer): boolean;
}

export function ed25519Signer(secretKey: Uint8Array): MessageSigner {
  const key = ed25519PrivateKeyObject(secretKey);
  return {
    algorithm: "ed25519",
    sign: (message) => sign(null, Buffer.from(message, "utf8"), key).toString("base64"),
  };
}

export function ed25519Verifier(publicKey: Uint8Array): MessageVerifier {
  const key = ed25519PublicKeyObject(publicKey);
  return {
    algorithm: "ed25519",
    verify: (message, signature) =>
      signature.length === SIGNATURE_BYTES.ed25519 &&
      verify(null, Buffer.from(message, "utf8"), key, signature),
  };
}

function hmacKeyObject(secret: string): KeyObject {
  if (secret.length === 0) throw new KeyMaterialError("an hmac secret must not be empty");
  return createSecretKey(Buffer.from(secret, "utf8"));
}

export function hmacSigner(secret: string): MessageSigner {
  const key = hmacKeyObject(secret);
  return {
    algorithm: "hmac",
    sign: (message) => createHmac("sha256", key).update(message, "utf8").digest("base64"),
  };
}

export function hmacVerifier(secret: string): MessageVerifier {
  const key = hmacKeyObject(secret);
  return {
    algorithm: "hmac",
    verify: (message, signature) => {
      if (signature.length !== SIGNATURE_BYTES.hmac) return false;
      const expected = createHmac("sha256", key).update(message, "utf8").digest();
      return timingSafeEqual(expected, signature);
    },
  };
}

/** Decodes strict padded base64 of exactly `bytes` bytes, or returns undefined. */
export function decodeBase64Exact(text: string, bytes: number): Buffer | undefined {
  const decoded = Buffer.from(text, "base64");
  if (decoded.length !== bytes || decoded.toString("base64") !== text) return undefined;
  return decoded;
}
