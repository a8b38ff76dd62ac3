// esbuild: bin/main.ts and everything it reaches, as ONE self-contained CommonJS file for the
// single executable (Node's SEA runs a CommonJS main script whose require() only knows builtins).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { build } from "esbuild";
import type { BuildOptions, Metafile, Plugin } from "esbuild";
import { SEA_ASSET_PREFIX } from "../../bin/sea-assets.ts";
import { SYSTEMD_FILES, systemdFileText } from "../../systemd/files.ts";

export const REPO_ROOT = resolve(import.meta.dirname, "../..");
export const ENTRY = resolve(REPO_ROOT, "bin/main.ts");

const IMPORT_META_URL = "__homeward_import_meta_url";

/**
 * Top-level await is not possible in CommonJS, and bin/main.ts awaits main() at its top level (fine
 * for tsx and ESM). This moves the module's statements, except its imports, into an async function
 * that runs at once; declarations become local to it, which is harmless for an entry module that
 * exports nothing. An entry without `await` is left alone.
 */
export function topLevelAwaitPlugin(entry: string = ENTRY): Plugin {
  return {
    name: "homeward-entry-top-level-await",
    setup(pluginBuild) {
      pluginBuild.onLoad({ filter: /\.ts$/ }, (args) => {
        if (resolve(args.path) !== entry) return undefined;
        const source = readFileSync(args.path, "utf8");
        return { contents: wrapTopLevelAwait(source, args.path), loader: "ts" };
      });
    },
  };
}

export function wrapTopLevelAwait(source: string, path = "entry"): string {
  // Any `await` may be a top-level one; wrapping an entry whose awaits are all inside functions is
  // harmless too.
  if (!/\bawait\b/.test(source)) return source;
  if (/^export\b/m.test(source)) {
    throw new Error(`${path}: an entry module with exports cannot be wrapped to drop top-level await`);
  }
  const imports: string[] = [];
  const body = source.replace(/^import\b[^;]*;[ \t]*$/gm, (statement) => {
    imports.push(statement);
    return "";
  });
  return [
    ...imports,
    "void (async () => {",
    body,
    "})().catch((error) => {",
    "  console.error(error);",
    "  process.exitCode = 70;",
    "});",
    "",
  ].join("\n");
}

/** systemd/files.ts reads the unit files and install scripts at run time; the bundle inlines them. */
export const SYSTEMD_FILES_MODULE = resolve(REPO_ROOT, "systemd/files.ts");

export function inlineSystemdFilesPlugin(): Plugin {
  return {
    name: "homeward-inline-systemd-files",
    setup(pluginBuild) {
      pluginBuild.onLoad({ filter: /files\.ts$/ }, (args) => {
        if (resolve(args.path) !== SYSTEMD_FILES_MODULE) return undefined;
        const texts = Object.fromEntries(SYSTEMD_FILES.map((name) => [name, systemdFileText(name)]));
        return {
          contents: [
            `export const SYSTEMD_FILES = ${JSON.stringify(SYSTEMD_FILES)} as const;`,
            `export type SystemdFile = (typeof SYSTEMD_FILES)[number];`,
            `const TEXTS: Record<SystemdFile, string> = ${JSON.stringify(texts, null, 2)};`,
            `export function systemdFileText(name: SystemdFile): string {`,
            `  return TEXTS[name];`,
            `}`,
          ].join("\n"),
          loader: "ts",
          watchFiles: SYSTEMD_FILES.map((name) => resolve(REPO_ROOT, "systemd", name)),
        };
      });
    },
  };
}

/** An npm package a bundle leaves out: it lives in the SEA asset `asset` (bin/sea-assets.ts). */
export interface SeaAssetPackage {
  readonly asset: string;
  /** The names the bundle imports from it (esbuild fails the build on any other). */
  readonly exports: readonly string[];
}

const SEA_PACKAGE_NAMESPACE = "homeward-sea-package";

/**
 * Replaces each package with a module that requires its asset (`homeward-sea-asset:<asset>`, which
 * bin/sea-main.ts's require runs) and re-exports the names the bundle uses. Reached only through a
 * dynamic import(), that module, and so the asset, runs at the first import, not at start.
 */
export function seaAssetPackagesPlugin(packages: Readonly<Record<string, SeaAssetPackage>>): Plugin {
  return {
    name: "homeward-sea-asset-packages",
    setup(pluginBuild) {
      const names = [...Object.keys(packages), SEA_ASSET_PREFIX].map((name) =>
        name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"),
      );
      const filter = new RegExp(`^(?:${names.join("|")})`);
      pluginBuild.onResolve({ filter }, (args) => {
        if (args.path.startsWith(SEA_ASSET_PREFIX)) return { path: args.path, external: true };
        if (!Object.hasOwn(packages, args.path) || args.namespace === SEA_PACKAGE_NAMESPACE) return undefined;
        return { path: args.path, namespace: SEA_PACKAGE_NAMESPACE };
      });
      pluginBuild.onLoad({ filter: /.*/, namespace: SEA_PACKAGE_NAMESPACE }, (args) => {
        const pkg = packages[args.path] as SeaAssetPackage;
        const reexports = pkg.exports.map((name) =>
          name === "default" ? "export default asset.default;" : `export const ${name} = asset.${name};`,
        );
        return {
          contents: [
            `const asset = require(${JSON.stringify(SEA_ASSET_PREFIX + pkg.asset)});`,
            ...reexports,
          ].join("\n"),
          loader: "js",
        };
      });
    },
  };
}

/** The source of an asset that holds one package: the names the agent imports from it. */
export function seaAssetPackageSource(name: string, pkg: SeaAssetPackage): string {
  return `export { ${pkg.exports.join(", ")} } from ${JSON.stringify(name)};\n`;
}

export interface BundleOptions {
  readonly entry?: string;
  /** Bundle this source (resolved from the repository's root) instead of `entry`. */
  readonly source?: string;
  readonly outfile: string;
  readonly minify?: boolean;
  /** esbuild's target: node24 for the single binaries, node20 for the npm package (engines). */
  readonly target?: string;
  /** Packages left out of the bundle, each loaded from its own SEA asset (seaAssetPackagesPlugin). */
  readonly seaPackages?: Readonly<Record<string, SeaAssetPackage>>;
}

export function bundleOptions(options: BundleOptions): BuildOptions {
  const entry = options.entry ?? ENTRY;
  const minify = options.minify ?? true;
  return {
    absWorkingDir: REPO_ROOT,
    ...(options.source === undefined
      ? { entryPoints: [entry] }
      : { stdin: { contents: options.source, resolveDir: REPO_ROOT, loader: "ts" as const } }),
    outfile: options.outfile,
    bundle: true,
    platform: "node",
    target: options.target ?? "node24",
    format: "cjs",
    // Minified, local names included: V8 keeps each bundle's source for lazy compiling, for as long
    // as the agent runs (BENCHMARKS.md, "Agent"). keepNames sets every function's and class's
    // `name`, which is what V8 prints in stack traces, so traces from a Pi stay readable.
    minifyWhitespace: minify,
    minifySyntax: minify,
    minifyIdentifiers: minify,
    keepNames: minify,
    legalComments: "eof",
    metafile: true,
    logLevel: "warning",
    // ESM dependencies (node-cron) read import.meta.url, which CommonJS output has no value for:
    // give it the bundle's own file URL (in the single executable, the executable's path).
    define: {
      "import.meta.url": IMPORT_META_URL,
      "import.meta.dirname": "__dirname",
      "import.meta.filename": "__filename",
    },
    banner: {
      js: `"use strict";\nvar ${IMPORT_META_URL} = require("node:url").pathToFileURL(__filename).href;`,
    },
    plugins: [
      topLevelAwaitPlugin(entry),
      inlineSystemdFilesPlugin(),
      ...(options.seaPackages === undefined ? [] : [seaAssetPackagesPlugin(options.seaPackages)]),
    ],
  };
}

/** Bundles and returns esbuild's metafile (which input went where, and how big). */
export async function bundle(options: BundleOptions): Promise<Metafile> {
  const result = await build(bundleOptions(options));
  if (result.errors.length > 0) throw new Error(`esbuild failed with ${result.errors.length} errors`);
  if (!result.metafile) throw new Error("esbuild returned no metafile");
  return result.metafile;
}
