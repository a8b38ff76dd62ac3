// Builds the single executables: dist/homeward-linux-x64 and dist/homeward-linux-arm64 (stripped
// official Node binaries with the bundled app injected as a SEA blob), their .xz archives and
// dist/SHA256SUMS. Run as `scripts/build-binaries [--force] [--no-archives]` (npm run build:binaries).
//
// Skips all work when dist/ was built from the same inputs (sources, lockfile, pins, this script):
// tests call it before using the binaries, so `npm test` alone works and only pays once.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { SEA_ASSETS, SEA_PACKAGES } from "../../bin/sea-assets.ts";
import { bundle, REPO_ROOT, seaAssetPackageSource } from "./bundle.ts";
import { BUILD_DIR, loadPins, nodeBinary, TARGETS } from "./node-dist.ts";
import { dropFromPageCache } from "./page-cache.ts";
import type { NodeBinaries, Target } from "./node-dist.ts";

export const DIST_DIR = join(REPO_ROOT, "dist");
export const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
export const ARM64_SYSROOT = join(BUILD_DIR, "arm64-sysroot");
const WORK_DIR = join(BUILD_DIR, "sea");
const LOCK_DIR = join(BUILD_DIR, ".build-binaries.lock");
const BUILD_INFO = join(DIST_DIR, "build-info.json");
/** xz preset: -6 is about 2% bigger than -9e and twice as fast (~55 s per binary on 2 cores). */
const XZ_LEVEL = process.env.HOMEWARD_XZ_LEVEL ?? "-6";

/** Everything whose change must rebuild the binaries. */
const INPUT_DIRS = [
  "bin",
  "protocol",
  "agent",
  "server-stub",
  "hardware",
  "queue",
  "systemd",
  "scripts/build",
];
const INPUT_FILES = ["package.json", "package-lock.json", "scripts/build-binaries"];
const INPUT_EXTENSIONS = /\.(ts|js|cjs|mjs|json|service|sysusers|sh)$/;

export function binaryName(target: Target): string {
  return `homeward-${target}`;
}

export function binaryPath(target: Target): string {
  return join(DIST_DIR, binaryName(target));
}

function log(message: string): void {
  process.stderr.write(`build: ${message}\n`);
}

export function inputsHash(pins: NodeBinaries): string {
  const hash = createHash("sha256");
  hash.update(`node ${pins.version} xz ${XZ_LEVEL}\n`);
  const files: string[] = [...INPUT_FILES];
  for (const dir of INPUT_DIRS) {
    const root = join(REPO_ROOT, dir);
    if (!existsSync(root)) continue;
    for (const entry of readdirSync(root, { recursive: true }) as string[]) {
      if (INPUT_EXTENSIONS.test(entry)) files.push(join(dir, entry));
    }
  }
  for (const file of files.sort()) {
    const path = join(REPO_ROOT, file);
    if (!existsSync(path) || !statSync(path).isFile()) continue;
    hash.update(`${file}\0`);
    hash.update(readFileSync(path));
    hash.update("\0");
  }
  return hash.digest("hex");
}

interface BuildInfo {
  readonly version: string;
  readonly node: string;
  readonly inputs: string;
  /** The whole command's bundle (bin/main.ts), an asset in the binary. */
  readonly bundleBytes: number;
  /** The agent's own bundle (bin/agent-main.ts), the asset `homeward agent` runs. */
  readonly agentBundleBytes: number;
  /** false after a --no-archives build: the binaries are current, the .xz archives absent. */
  readonly archives: boolean;
  /** Every file in dist/ this build made, with its size. */
  readonly files: Record<string, number>;
}

function readBuildInfo(): BuildInfo | undefined {
  try {
    return JSON.parse(readFileSync(BUILD_INFO, "utf8")) as BuildInfo;
  } catch {
    return undefined;
  }
}

function filesIntact(info: BuildInfo): boolean {
  return Object.entries(info.files).every(
    ([name, size]) => existsSync(join(DIST_DIR, name)) && statSync(join(DIST_DIR, name)).size === size,
  );
}

/** One build at a time (tests running in parallel may all ask for the binaries). */
async function withLock<T>(work: () => Promise<T>): Promise<T> {
  mkdirSync(BUILD_DIR, { recursive: true });
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      writeFileSync(join(LOCK_DIR, "pid"), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      let holder = Number.NaN;
      try {
        holder = Number(readFileSync(join(LOCK_DIR, "pid"), "utf8"));
      } catch {
        // Just created, pid not written yet.
      }
      if (Number.isInteger(holder) && !processAlive(holder)) {
        rmSync(LOCK_DIR, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${LOCK_DIR}`, { cause: error });
      await delay(1000);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(LOCK_DIR, { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function which(command: string): string | undefined {
  const result = spawnSync("sh", ["-c", 'command -v "$1"', "sh", command], { encoding: "utf8" });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/** GNU strip for x64; for arm64 the cross binutils' strip, or llvm-strip (any architecture). */
export function stripTool(target: Target): string {
  const candidates =
    target === "linux-x64" ? ["strip", "llvm-strip"] : ["aarch64-linux-gnu-strip", "llvm-strip"];
  for (const candidate of candidates) {
    const found = which(candidate);
    if (found) return found;
  }
  throw new Error(
    `no strip tool for ${target}: install one of ${candidates.join(", ")} ` +
      "(Debian: binutils for x64, binutils-aarch64-linux-gnu for arm64)",
  );
}

function run(command: string, args: readonly string[], what: string): void {
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new Error(
      `${what} failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stdout ?? ""}${result.stderr ?? ""}`,
    );
  }
}

function postjectCli(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("postject/package.json")), "dist/cli.js");
}

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/**
 * Runs the freshly built binary's `--version` (the whole command's asset) and `agent --help` (the
 * agent's): natively for x64, under qemu for arm64 when possible.
 */
function smokeTest(target: Target, binary: string, version: string): void {
  let command = binary;
  let prefix: string[] = [];
  if (target === "linux-arm64") {
    const qemu = which("qemu-aarch64-static");
    if (!qemu || !existsSync(join(ARM64_SYSROOT, "lib/ld-linux-aarch64.so.1"))) {
      log("arm64: not run (needs qemu-aarch64-static and scripts/build/arm64-sysroot)");
      return;
    }
    command = qemu;
    prefix = ["-L", ARM64_SYSROOT, binary];
  }
  const output = (args: string[]): string =>
    execFileSync(command, [...prefix, ...args], { encoding: "utf8", timeout: 60_000 }).trim();
  const said = output(["--version"]);
  if (said !== `homeward ${version}`) throw new Error(`${binaryName(target)} --version said "${said}"`);
  const agentHelp = output(["agent", "--help"]);
  if (!agentHelp.startsWith("Usage: homeward agent")) {
    throw new Error(`${binaryName(target)} agent --help said "${agentHelp.slice(0, 200)}"`);
  }
  log(`${target}: --version and agent --help ok`);
}

export interface BuildOptions {
  /** Rebuild even when dist/ is up to date. */
  readonly force?: boolean;
  /** Skip the .xz archives (about two minutes of the build): enough for the tests. */
  readonly archives?: boolean;
}

export async function buildBinaries(options: BuildOptions = {}): Promise<void> {
  const pins = loadPins();
  const wantArchives = options.archives ?? true;
  await withLock(async () => {
    const inputs = inputsHash(pins);
    let info = readBuildInfo();
    const fresh = !options.force && info?.inputs === inputs && filesIntact(info);
    if (fresh && info && (info.archives || !wantArchives)) {
      log("dist/ is up to date");
      return;
    }
    const started = Date.now();
    rmSync(BUILD_INFO, { force: true });
    if (!fresh || !info) info = await makeBinaries(pins, inputs);
    if (wantArchives) info = makeArchives(info);
    writeSums(info);
    writeFileSync(BUILD_INFO, `${JSON.stringify(info, null, 2)}\n`);
    log(`done in ${Math.round((Date.now() - started) / 1000)} s:`);
    for (const [name, size] of Object.entries(info.files)) {
      log(`  ${relative(REPO_ROOT, join(DIST_DIR, name))}  ${(size / 1024 / 1024).toFixed(1)} MiB`);
    }
  });
}

async function makeBinaries(pins: NodeBinaries, inputs: string): Promise<BuildInfo> {
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string })
    .version;
  const strips = Object.fromEntries(TARGETS.map((target) => [target, stripTool(target)])) as Record<
    Target,
    string
  >;
  const nodes = Object.fromEntries(TARGETS.map((target) => [target, nodeBinary(target, pins)])) as Record<
    Target,
    string
  >;

  rmSync(WORK_DIR, { recursive: true, force: true });
  mkdirSync(WORK_DIR, { recursive: true });
  mkdirSync(DIST_DIR, { recursive: true });
  for (const name of [...TARGETS.map((target) => `${binaryName(target)}.xz`), "SHA256SUMS"]) {
    rmSync(join(DIST_DIR, name), { force: true });
  }

  // The whole command and the agent alone, stored as SEA assets, the small main script that picks
  // one (bin/sea-main.ts), so the agent's V8 holds only the agent's source, and the packages the
  // agent's bundle leaves out (mqtt, conf), an asset each, run only when the agent imports them.
  const bundles = {
    main: { entry: "bin/sea-main.ts", outfile: join(WORK_DIR, "sea-main.cjs") },
    cli: { entry: "bin/main.ts", outfile: join(WORK_DIR, SEA_ASSETS.cli) },
    agent: {
      entry: "bin/agent-main.ts",
      outfile: join(WORK_DIR, SEA_ASSETS.agent),
      seaPackages: SEA_PACKAGES,
    },
  };
  for (const { entry, outfile, ...rest } of Object.values(bundles)) {
    log(`bundling ${entry} with esbuild`);
    const metafile = await bundle({ entry: join(REPO_ROOT, entry), outfile, ...rest });
    writeFileSync(`${outfile}.meta.json`, JSON.stringify(metafile));
  }
  const packageAssets: Record<string, string> = {};
  for (const [name, pkg] of Object.entries(SEA_PACKAGES)) {
    const outfile = join(WORK_DIR, pkg.asset);
    log(`bundling ${name} (the agent's ${pkg.asset}) with esbuild`);
    const metafile = await bundle({ source: seaAssetPackageSource(name, pkg), outfile });
    writeFileSync(`${outfile}.meta.json`, JSON.stringify(metafile));
    packageAssets[pkg.asset] = outfile;
  }
  const bundleBytes = statSync(bundles.cli.outfile).size;
  const agentBundleBytes = statSync(bundles.agent.outfile).size;

  const blob = join(WORK_DIR, "homeward.blob");
  const config = join(WORK_DIR, "sea-config.json");
  writeFileSync(
    config,
    `${JSON.stringify(
      {
        main: bundles.main.outfile,
        output: blob,
        assets: {
          [SEA_ASSETS.cli]: bundles.cli.outfile,
          [SEA_ASSETS.agent]: bundles.agent.outfile,
          ...packageAssets,
        },
        // Neither a V8 snapshot nor a code cache: both are tied to the V8 build and CPU of the node
        // that makes the blob, and the same blob goes into the arm64 binary.
        disableExperimentalSEAWarning: true,
        useSnapshot: false,
        useCodeCache: false,
      },
      null,
      2,
    )}\n`,
  );
  log(`making the SEA blob with Node ${pins.version} (x64)`);
  run(nodes["linux-x64"], ["--experimental-sea-config", config], "node --experimental-sea-config");

  const files: Record<string, number> = {};
  for (const target of TARGETS) {
    const staged = join(WORK_DIR, binaryName(target));
    copyFileSync(nodes[target], staged);
    // Strip before injecting: postject adds the blob as a new ELF note, which strip could drop.
    run(strips[target], [staged], `${strips[target]} ${binaryName(target)}`);
    run(
      process.execPath,
      [postjectCli(), staged, "NODE_SEA_BLOB", blob, "--sentinel-fuse", SEA_FUSE],
      `postject ${binaryName(target)}`,
    );
    // postject wrote the executable in one go: out of the page cache with it, so the binary's first
    // runs (tests, benchmarks) map its pages as after a reboot (scripts/build/page-cache.ts).
    dropFromPageCache(staged);
    smokeTest(target, staged, version);
    renameSync(staged, binaryPath(target));
    files[binaryName(target)] = statSync(binaryPath(target)).size;
  }
  return { version, node: pins.version, inputs, bundleBytes, agentBundleBytes, archives: false, files };
}

function makeArchives(info: BuildInfo): BuildInfo {
  if (!which("xz")) throw new Error("xz is missing (Debian: xz-utils)");
  const files = { ...info.files };
  for (const target of TARGETS) {
    log(`xz ${XZ_LEVEL} ${binaryName(target)}`);
    run("xz", ["-T0", XZ_LEVEL, "--keep", "--force", binaryPath(target)], "xz");
    files[`${binaryName(target)}.xz`] = statSync(`${binaryPath(target)}.xz`).size;
  }
  return { ...info, archives: true, files };
}

/** dist/SHA256SUMS in sha256sum's format, so `cd dist && sha256sum -c SHA256SUMS` checks it. */
function writeSums(info: BuildInfo): void {
  const names = Object.keys(info.files)
    .filter((name) => name !== "SHA256SUMS")
    .sort();
  const sums = names.map((name) => `${sha256(join(DIST_DIR, name))}  ${name}\n`).join("");
  writeFileSync(join(DIST_DIR, "SHA256SUMS"), sums);
  info.files.SHA256SUMS = statSync(join(DIST_DIR, "SHA256SUMS")).size;
}

async function cli(argv: readonly string[]): Promise<void> {
  if (argv.some((arg) => arg !== "--force" && arg !== "--no-archives")) {
    process.stderr.write("Usage: scripts/build-binaries [--force] [--no-archives]\n");
    process.exitCode = 2;
    return;
  }
  await buildBinaries({ force: argv.includes("--force"), archives: !argv.includes("--no-archives") });
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  cli(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`build: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
