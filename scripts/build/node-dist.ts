// The official Node.js binaries, from the npm registry's node-linux-<arch> packages: pinned to one
// exact version in node-binaries.json, each tarball checked against its recorded sha512 integrity,
// and cached under build/cache so later builds need no network.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";

export const BUILD_DIR = resolve(import.meta.dirname, "../../build");
export const CACHE_DIR = join(BUILD_DIR, "cache");

export type Target = "linux-x64" | "linux-arm64";
export const TARGETS: readonly Target[] = ["linux-x64", "linux-arm64"];

interface PinnedTarget {
  readonly package: string;
  readonly integrity: string;
}

export interface NodeBinaries {
  readonly version: string;
  readonly targets: Readonly<Record<Target, PinnedTarget>>;
}

export function loadPins(): NodeBinaries {
  const pins = JSON.parse(
    readFileSync(resolve(import.meta.dirname, "node-binaries.json"), "utf8"),
  ) as NodeBinaries;
  if (!/^\d+\.\d+\.\d+$/.test(pins.version)) {
    throw new Error(`node-binaries.json: version must be exact (x.y.z), not "${pins.version}"`);
  }
  for (const target of TARGETS) {
    const pin = pins.targets[target];
    if (!pin || !/^sha512-[A-Za-z0-9+/]{86}==$/.test(pin.integrity)) {
      throw new Error(`node-binaries.json: ${target} needs a package and a sha512 integrity`);
    }
  }
  return pins;
}

export function integrityOf(file: string): string {
  return `sha512-${createHash("sha512").update(readFileSync(file)).digest("base64")}`;
}

function log(message: string): void {
  process.stderr.write(`build: ${message}\n`);
}

/** The tarball in the cache, fetched with `npm pack` when missing; throws if its integrity is wrong. */
export function nodeTarball(target: Target, pins: NodeBinaries = loadPins()): string {
  const pin = pins.targets[target];
  const tarball = join(CACHE_DIR, `${pin.package}-${pins.version}.tgz`);
  if (!existsSync(tarball)) {
    mkdirSync(CACHE_DIR, { recursive: true });
    const spec = `${pin.package}@${pins.version}`;
    log(`fetching ${spec} from the npm registry`);
    const partial = join(CACHE_DIR, `.partial-${process.pid}`);
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial);
    try {
      execFileSync("npm", ["pack", spec, "--pack-destination", partial, "--silent"], {
        stdio: ["ignore", "ignore", "inherit"],
      });
      const fetched = readdirSync(partial).filter((name) => name.endsWith(".tgz"));
      if (fetched.length !== 1) throw new Error(`npm pack ${spec} left ${fetched.length} tarballs`);
      checkIntegrity(join(partial, fetched[0] as string), pin.integrity, spec);
      renameSync(join(partial, fetched[0] as string), tarball);
    } finally {
      rmSync(partial, { recursive: true, force: true });
    }
  }
  checkIntegrity(tarball, pin.integrity, `${pin.package}@${pins.version}`);
  return tarball;
}

function checkIntegrity(file: string, expected: string, what: string): void {
  const actual = integrityOf(file);
  if (actual !== expected) {
    throw new Error(
      `${what}: integrity mismatch: expected ${expected} (scripts/build/node-binaries.json), got ${actual} (${file}). ` +
        "Delete the file to fetch it again; if the registry really changed, find out why before updating the pin.",
    );
  }
}

/** The unstripped official `node` binary for a target, unpacked from the verified tarball. */
export function nodeBinary(target: Target, pins: NodeBinaries = loadPins()): string {
  const dir = join(CACHE_DIR, `node-${target}-${pins.version}`);
  const binary = join(dir, "node");
  const stamp = join(dir, "integrity");
  const pin = pins.targets[target];
  if (existsSync(binary) && existsSync(stamp) && readFileSync(stamp, "utf8") === pin.integrity) {
    return binary;
  }
  const tarball = nodeTarball(target, pins);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync("tar", ["-xzf", tarball, "-C", dir, "--strip-components=2", "package/bin/node"]);
  chmodSync(binary, 0o755);
  writeFileSync(stamp, pin.integrity);
  return binary;
}
