import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, and shared/ beside it (where CI and developers keep the design and vectors). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const SHARED_DIR = process.env.HOMEWARD_SHARED_DIR ?? resolve(REPO_ROOT, "../shared");
export const VECTORS_DIR = join(SHARED_DIR, "vectors");

export interface Ed25519Vector {
  readonly key_id: string;
  readonly secret_key: string;
  readonly public_key: string;
  readonly message: string;
  readonly signature: string;
  readonly line: string;
}

export interface MustFailVector {
  readonly why: string;
  readonly line: string;
  readonly public_key: string;
}

export interface HmacVector {
  readonly key_id: string;
  readonly secret_key: string;
  readonly message: string;
  readonly signature: string;
  readonly line: string;
}

/** Read in place from ../shared/vectors: never copied into the repository. */
export function loadEd25519Vectors(): { vectors: Ed25519Vector[]; mustFail: MustFailVector[] } {
  const data = JSON.parse(readFileSync(join(VECTORS_DIR, "ed25519-lines.json"), "utf8")) as {
    vectors: Ed25519Vector[];
    must_fail: MustFailVector[];
  };
  return { vectors: data.vectors, mustFail: data.must_fail };
}

export function loadHmacVectors(): HmacVector[] {
  return (
    JSON.parse(readFileSync(join(VECTORS_DIR, "hmac-amproxy-lines.json"), "utf8")) as {
      vectors: HmacVector[];
    }
  ).vectors;
}
