import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { disposeAfter, makeTempDir, removeTempDir, type AfterHook } from "./cleanup.ts";
import { freePort, LOOPBACK } from "./free-port.ts";
import { spawnSupervised, waitForListening, type SupervisedProcess } from "./process.ts";

const execFileAsync = promisify(execFile);

/**
 * graphite-web (Debian's `graphite-web` package: Django 3.2 and the graphite app) in the
 * foreground on 127.0.0.1, reading a carbon-cache's whisper dir.
 *
 * How it runs: Django's own `runserver` (python3-django, which graphite-web depends on), threaded,
 * with `--noreload --insecure` so it also serves the static files of the dashboard UI. No Apache,
 * no gunicorn or uwsgi, nothing in /etc or /var: the settings are two Python modules written to a
 * temp dir and put on PYTHONPATH:
 *   - `homeward_graphite_local` is graphite's local_settings (picked by GRAPHITE_SETTINGS_MODULE):
 *     whisper dir, a SQLite database, logs, the carbon-cache to ask for points not yet on disk;
 *   - `homeward_graphite_settings` (DJANGO_SETTINGS_MODULE) loads graphite.settings and points
 *     STATICFILES_DIRS at /usr/share/graphite-web/static, where Debian puts the UI's files, behind
 *     an overlay holding one fixed file (see {@link patchedDashboardJs}).
 * The database (dashboards, sessions) is made with `django migrate --run-syncdb` before the start.
 *
 * /usr/bin/python3 is used by path: a python3 earlier on PATH (pyenv, a venv) has no Django.
 */
export const SYSTEM_PYTHON = "/usr/bin/python3";
export const GRAPHITE_WEB_APP = "/usr/lib/python3/dist-packages/graphite/settings.py";
export const GRAPHITE_WEB_STATIC = "/usr/share/graphite-web/static";

export function graphiteWebInstalled(): boolean {
  return existsSync(SYSTEM_PYTHON) && existsSync(GRAPHITE_WEB_APP) && existsSync(GRAPHITE_WEB_STATIC);
}

export interface GraphiteWebOptions {
  /** carbon-cache's LOCAL_DATA_DIR (Carbon.whisperDir). */
  whisperDir: string;
  /** carbon-cache's cache query port, so that points still in Carbon's cache show up too. */
  carbonlinkPort?: number;
  /** A fixed port (default: a free one). */
  port?: number;
  /** Where settings, database and logs go (default: a temp dir removed on dispose). */
  dir?: string;
  /** The time zone graphs are drawn in (default UTC). */
  timeZone?: string;
  /** How long to wait for it to listen (default 60 s). */
  startTimeoutMs?: number;
  /** Test context (or `{ after }` of a suite): stop graphite-web and remove its files afterwards. */
  t?: AfterHook;
}

/** One series of `/render?format=json`: `[value, timestamp]` pairs, as graphite-web sends them. */
export interface RenderSeries {
  readonly target: string;
  readonly datapoints: readonly [number | null, number][];
}

export type RenderParams = Record<string, string | readonly string[]>;

export interface GraphiteWeb {
  readonly host: typeof LOOPBACK;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly dir: string;
  isRunning(): boolean;
  /** runserver's console: the request log and any traceback. */
  output(): string;
  /** `/render?...&format=json`. */
  render(params: RenderParams): Promise<RenderSeries[]>;
  /** `/render?...` as a PNG (graphite-web's own drawing, with cairo). */
  renderPng(params: RenderParams): Promise<Buffer>;
  /** POST /dashboard/save/<name>: `state` as the dashboard UI's "Save" sends it. */
  saveDashboard(name: string, state: unknown): Promise<void>;
  /** POST /dashboard/save_template/<name>/<key>: `key` in the targets becomes the template's value. */
  saveTemplate(name: string, key: string, state: unknown): Promise<void>;
  stop(): Promise<void>;
  /** Stops graphite-web and removes its temp dir (not a `dir` that was given). */
  dispose(): Promise<void>;
}

function pythonString(text: string): string {
  return JSON.stringify(text);
}

function localSettings(dir: string, options: GraphiteWebOptions): string {
  const carbonlink = options.carbonlinkPort === undefined ? [] : [`${LOOPBACK}:${options.carbonlinkPort}`];
  return [
    "# Written by test/harness/graphite-web.ts: graphite-web's local_settings for one run.",
    // A fresh random key per run: sessions only need to outlive this process.
    `SECRET_KEY = ${pythonString(randomKey())}`,
    `STORAGE_DIR = ${pythonString(dir)}`,
    `WHISPER_DIR = ${pythonString(options.whisperDir)}`,
    `STANDARD_DIRS = [${pythonString(options.whisperDir)}]`,
    `LOG_DIR = ${pythonString(join(dir, "log"))}`,
    `INDEX_FILE = ${pythonString(join(dir, "index"))}`,
    `CONF_DIR = ${pythonString(join(dir, "conf"))}`,
    `STATIC_ROOT = ${pythonString(join(dir, "static"))}`,
    "LOG_ROTATION = False",
    `TIME_ZONE = ${pythonString(options.timeZone ?? "UTC")}`,
    `CARBONLINK_HOSTS = ${JSON.stringify(carbonlink)}`,
    "CARBONLINK_TIMEOUT = 1.0",
    "DEFAULT_XFILES_FACTOR = 0",
    `ALLOWED_HOSTS = [${pythonString(LOOPBACK)}, "localhost"]`,
    "DATABASES = {",
    `    "default": {"NAME": ${pythonString(join(dir, "graphite.db"))}, "ENGINE": "django.db.backends.sqlite3"}`,
    "}",
    "",
  ].join("\n");
}

function randomKey(): string {
  return randomBytes(32).toString("base64url");
}

function djangoSettings(overlayDir: string): string {
  return [
    "# Written by test/harness/graphite-web.ts.",
    "from graphite.settings import *  # noqa: F401,F403",
    "",
    "# graphite.settings sets this after loading local_settings, to a path Debian does not use.",
    "# The overlay comes first: a file there replaces Debian's.",
    `STATICFILES_DIRS = (${pythonString(overlayDir)}, ${pythonString(GRAPHITE_WEB_STATIC)})`,
    // Model and admin warnings from Django 3.2 about graphite 1.1.8's models: noise on every start.
    "SILENCED_SYSTEM_CHECKS = ['models.W042', 'admin.W411']",
    "",
  ].join("\n");
}

/**
 * graphite-web 1.1.8's dashboard.js calls a bare `htmlEncode` that does not exist, so the dashboard
 * UI cannot open a saved dashboard (graphite-web issue #2711, fixed upstream after 1.1.8): the
 * overlay serves a copy that calls ExtJS's `Ext.util.Format.htmlEncode`, the upstream fix. Returns
 * undefined when the installed file needs no fix.
 */
export function patchedDashboardJs(original: string): string | undefined {
  const patched = original.replace(/(?<![.\w])htmlEncode\(/g, "Ext.util.Format.htmlEncode(");
  return patched === original ? undefined : patched;
}

/** Debian's dashboard.conf.example, [ui] section. */
const DASHBOARD_CONF = [
  "[ui]",
  "default_graph_width = 400",
  "default_graph_height = 250",
  "automatic_variants = true",
  "refresh_interval = 60",
  "autocomplete_delay = 375",
  "merge_hover_delay = 750",
  "theme = default",
  "",
].join("\n");

function encodeParams(params: RenderParams): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const item of typeof value === "string" ? [value] : value) search.append(name, item);
  }
  return search.toString();
}

/** Starts graphite-web and resolves once it answers HTTP. */
export async function startGraphiteWeb(options: GraphiteWebOptions): Promise<GraphiteWeb> {
  if (!graphiteWebInstalled()) {
    throw new Error("graphite-web is not installed: apt-get install graphite-web (Debian)");
  }
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? makeTempDir("graphite-web");
  for (const sub of ["log", "conf", "static"]) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, "homeward_graphite_local.py"), localSettings(dir, options));
  const overlayDir = join(dir, "static-overlay");
  const dashboardJs = patchedDashboardJs(
    readFileSync(join(GRAPHITE_WEB_STATIC, "js", "dashboard.js"), "utf8"),
  );
  if (dashboardJs !== undefined) {
    mkdirSync(join(overlayDir, "js"), { recursive: true });
    writeFileSync(join(overlayDir, "js", "dashboard.js"), dashboardJs);
  } else {
    mkdirSync(overlayDir, { recursive: true });
  }
  writeFileSync(join(dir, "homeward_graphite_settings.py"), djangoSettings(overlayDir));
  // Without it the dashboard UI works on defaults but shows a "dashboard.conf is missing" warning.
  writeFileSync(join(dir, "conf", "dashboard.conf"), DASHBOARD_CONF);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PYTHONPATH: [dir, process.env.PYTHONPATH].filter(Boolean).join(":"),
    GRAPHITE_SETTINGS_MODULE: "homeward_graphite_local",
    DJANGO_SETTINGS_MODULE: "homeward_graphite_settings",
    PYTHONUNBUFFERED: "1",
    PYTHONWARNINGS: "ignore",
    PYTHONDONTWRITEBYTECODE: "1",
  };
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;

  try {
    await execFileAsync(SYSTEM_PYTHON, ["-m", "django", "migrate", "--run-syncdb", "-v", "0"], {
      cwd: dir,
      env,
      timeout: startTimeoutMs,
    });
  } catch (error) {
    const failure = error as { stderr?: string; message: string };
    if (ownDir) await removeTempDir(dir);
    throw new Error(`graphite-web: django migrate failed: ${failure.stderr?.trim() || failure.message}`, {
      cause: error,
    });
  }

  let proc: SupervisedProcess | undefined;
  let port = options.port ?? (await freePort());
  for (let attempt = 1; ; attempt++) {
    const current = spawnSupervised(
      SYSTEM_PYTHON,
      ["-m", "django", "runserver", `${LOOPBACK}:${port}`, "--noreload", "--insecure"],
      { name: "graphite-web", cwd: dir, env },
    );
    proc = current;
    try {
      await waitForListening(current, [port], startTimeoutMs, (output) =>
        output.includes(`Starting development server at http://${LOOPBACK}:${port}/`),
      );
      break;
    } catch (error) {
      await current.stop();
      const bindFailure = /port is already in use/i.test(current.output());
      if (options.port !== undefined || attempt >= 3 || !bindFailure) {
        if (ownDir) await removeTempDir(dir);
        throw error;
      }
      port = await freePort();
    }
  }

  const url = `http://${LOOPBACK}:${port}`;
  const fetchOk = async (path: string, init?: RequestInit): Promise<Response> => {
    const response = await fetch(`${url}${path}`, init);
    if (!response.ok) {
      const body = await response.text();
      throw new Error(`graphite-web ${path}: HTTP ${response.status}: ${body.slice(0, 2000)}`);
    }
    return response;
  };
  const postState = async (path: string, state: unknown): Promise<void> => {
    const response = await fetchOk(path, {
      method: "POST",
      body: new URLSearchParams({ state: JSON.stringify(state) }),
    });
    const reply = (await response.json()) as { success?: boolean; error?: string };
    if (reply.success !== true)
      throw new Error(`graphite-web ${path}: ${reply.error ?? JSON.stringify(reply)}`);
  };
  let disposed = false;
  const running = proc;
  const web: GraphiteWeb = {
    host: LOOPBACK,
    port,
    url,
    dir,
    isRunning: () => running.exitStatus() === undefined,
    output: () => running.output(),
    async render(params) {
      const response = await fetchOk(`/render?${encodeParams({ ...params, format: "json" })}`);
      return (await response.json()) as RenderSeries[];
    },
    async renderPng(params) {
      const response = await fetchOk(`/render?${encodeParams({ ...params, format: "png" })}`);
      return Buffer.from(await response.arrayBuffer());
    },
    saveDashboard: (name, state) => postState(`/dashboard/save/${encodeURIComponent(name)}`, state),
    saveTemplate: (name, key, state) =>
      postState(`/dashboard/save_template/${encodeURIComponent(name)}/${encodeURIComponent(key)}`, state),
    async stop() {
      await running.stop();
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await running.stop();
      if (ownDir) await removeTempDir(dir);
    },
  };
  return disposeAfter(options.t, web);
}
