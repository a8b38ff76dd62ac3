import { PIN_MISMATCH } from "./server-identity.ts";

/**
 * Network and TLS errors in plain words, for `homeward status` ("could not reach
 * metrics.example.org (connection refused, ECONNREFUSED)"), which a family member may read out over the phone.
 * The code stays in the text so the owner can still tell the cases apart.
 */
const PLAIN_WORDS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection dropped",
  EPIPE: "connection dropped",
  ETIMEDOUT: "no answer",
  ENOTFOUND: "name not found",
  EAI_AGAIN: "name lookup failed; is the internet connection up?",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable; is the internet connection up?",
  ENETDOWN: "network down",
  ECONNABORTED: "connection aborted",
  CERT_HAS_EXPIRED: "the server's certificate has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's certificate is not trusted",
  SELF_SIGNED_CERT_IN_CHAIN: "the server's certificate is not trusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the server's certificate is not trusted",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the server's certificate is not trusted",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's certificate is for another name",
  [PIN_MISMATCH]: "the server's certificate is not the pinned one",
  CERT_NOT_YET_VALID: "the server's certificate is not valid yet; is the clock right?",
};

/** "connection refused, ECONNREFUSED": the plain words, then the code for the owner. */
export function describeNetworkError(error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = typeof message === "string" && message.length > 0 ? message : String(error);
  if (typeof code !== "string") return text;
  const plain = PLAIN_WORDS[code];
  return plain === undefined ? `${text}, ${code}` : `${plain}, ${code}`;
}

/** Errors about whom we are talking to: retrying soon will not fix them, the owner has to. */
export function isTrustError(error: unknown): boolean {
  const { code } = error as { code?: unknown };
  if (typeof code !== "string") return false;
  return code.includes("CERT") || code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE" || code === PIN_MISMATCH;
}
