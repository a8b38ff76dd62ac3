import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import type { Browser, BrowserContext, BrowserContextOptions } from "playwright-core";
import type { AfterHook } from "./cleanup.ts";

/** Debian's `chromium` package. playwright-core drives it; no browser is downloaded. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Headless, no sandbox (CI runs as root in a container, where Chromium's sandbox cannot start), and
 * quiet: nothing that would phone home (updates, sync, component downloads, QUIC probes), and no
 * name but localhost resolves (graphite-web's dashboard page asks for a Google font, for one), so
 * the only traffic is to the loopback pages a test opens. playwright-core gives every launch a
 * fresh temporary profile (its own --user-data-dir) and removes it on close.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
  "--disable-features=Translate,OptimizationHints,MediaRouter",
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
];

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

export interface ChromiumOptions {
  /** Close the browser after this test (or suite). */
  t?: AfterHook;
  /** Default 60 s: the first start on a cold machine is slow. */
  timeoutMs?: number;
}

export function chromiumInstalled(): boolean {
  return existsSync(CHROMIUM);
}

/** Launches headless Debian Chromium through playwright-core. */
export async function launchChromium(options: ChromiumOptions = {}): Promise<Browser> {
  if (!chromiumInstalled()) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (Debian)`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS],
    timeout: options.timeoutMs ?? 60_000,
  });
  options.t?.after(() => browser.close());
  return browser;
}

/**
 * A browser context that refuses every request to a host other than loopback before it leaves the
 * browser (the resolver rule above already makes names fail; this also covers IP addresses).
 */
export async function newLoopbackContext(
  browser: Browser,
  options: BrowserContextOptions = {},
): Promise<BrowserContext> {
  const context = await browser.newContext(options);
  await context.route(
    (url) => !LOOPBACK_HOSTS.has(url.hostname),
    (route) => route.abort("blockedbyclient"),
  );
  return context;
}
