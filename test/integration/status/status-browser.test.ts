import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { hmacSigner } from "../../../protocol/keys.ts";
import { startCarbon } from "../../harness/carbon.ts";
import type { Carbon } from "../../harness/carbon.ts";
import { launchChromium, newLoopbackContext } from "../../harness/chromium.ts";
import { makeTempDir } from "../../harness/cleanup.ts";
import { REPO_ROOT } from "../../support/vectors.ts";
import {
  DESIGN_AUTH_FILE,
  grandmaSigner,
  LOOPBACK,
  nowSeconds,
  postLines,
  signLine,
  startTestServer,
  tamper,
} from "../server/fixture.ts";
import type { TestServer } from "../server/fixture.ts";

const USER = "owner";
const PASSWORD = "Garden-Gnome-42";

const AUTH = `${DESIGN_AUTH_FILE}  uncle-pi:
    secret_key: uncle_secret_for_tests
    metrics: ["homeward.uncle-pi.**"]
  retired-pi:
    secret_key: retired_secret_for_tests
    metrics: ["homeward.retired-pi.**"]
    disabled: true
`;

/** Set HOMEWARD_UPDATE_SCREENSHOTS=1 to refresh docs/status-page.png; otherwise it goes to a temp dir. */
const SCREENSHOT = process.env.HOMEWARD_UPDATE_SCREENSHOTS
  ? join(REPO_ROOT, "docs", "status-page.png")
  : join(makeTempDir("status-screenshot"), "status-page.png");

describe("the status page in headless Chromium", () => {
  let carbon: Carbon;
  let server: TestServer;
  let statusUrl: string;

  before(async () => {
    carbon = await startCarbon();
    server = await startTestServer({
      carbonPort: carbon.linePort,
      authText: AUTH,
      flags: { "status-addr": `${LOOPBACK}:0`, "status-users": `${USER}:${PASSWORD},sister:Sec0nd-User` },
    });
    const address = server.server.statusAddress;
    assert.ok(address, "no status listener");
    statusUrl = `http://${LOOPBACK}:${address.port}/`;

    const now = nowSeconds();
    const grandma = grandmaSigner();
    const uncle = hmacSigner("uncle_secret_for_tests");
    const retired = hmacSigner("retired_secret_for_tests");
    const lines = (signer: typeof grandma, device: string, readings: [string, number, number][]) =>
      readings.map(([metric, value, age]) =>
        signLine(signer, `homeward.${device}.${metric}`, value, now - age, device),
      );
    const grandmaLines = lines(grandma, "grandma-pi", [
      ["system.load.1m", 0.42, 4],
      ["system.cpu.busy_pct", 7.5, 4],
      ["pi.soc_temp_c", 48.3, 3],
      ["self.buffer.depth", 12, 3],
      ["self.buffer.oldest_age_s", 40, 3],
    ]);
    // uncle-pi is catching up after an outage: old lines, a big backlog, and one forged line.
    const uncleLines = lines(uncle, "uncle-pi", [
      ["system.load.1m", 1.2, 5400],
      ["system.load.1m", 1.1, 5390],
      ["self.buffer.depth", 18_250, 5380],
      ["self.buffer.oldest_age_s", 5400, 5380],
    ]);
    const forged = tamper(signLine(uncle, "homeward.uncle-pi.system.load.1m", 9, now - 1, "uncle-pi"));
    const retiredLines = lines(retired, "retired-pi", [
      ["system.load.1m", 0.1, 10],
      ["system.load.1m", 0.2, 8],
      ["system.load.1m", 0.3, 6],
    ]);
    const stranger = signLine(hmacSigner("guess"), "homeward.stranger.system.load.1m", 1, now, "stranger");
    for (const body of [grandmaLines, uncleLines, [forged], retiredLines, [stranger]]) {
      const reply = await postLines(server.port("http"), `${body.join("\n")}\n`);
      assert.equal(reply.status, 200, JSON.stringify(reply.json));
    }
    await carbon.waitForPoints("homeward.grandma-pi.self.buffer.depth", 1);
  });

  after(async () => {
    await server?.close();
    await carbon?.dispose();
  });

  test("without the right credentials the page answers 401 and shows nothing", async (t) => {
    const browser = await launchChromium({ t });
    // Chromium answers a 401 it has no (right) credentials for by giving up on the page.
    for (const options of [{}, { httpCredentials: { username: USER, password: "Garden-Gnome-43" } }]) {
      const context = await newLoopbackContext(browser, options);
      const page = await context.newPage();
      const outcome = await page.goto(statusUrl).then(
        (response) => `HTTP ${response?.status()}`,
        (error: Error) => error.message,
      );
      assert.match(outcome, /ERR_INVALID_AUTH_CREDENTIALS|HTTP 401/);
      assert.equal(await page.locator("tr[data-key-id]").count(), 0);
      const reply = await context.request.get(statusUrl);
      assert.equal(reply.status(), 401);
      assert.equal(await reply.text(), "Log in to see the homeward status page.\n");
      await context.close();
    }
    const plain = await fetch(`${statusUrl}status.json`);
    assert.equal(plain.status, 401);
    assert.match(plain.headers.get("www-authenticate") ?? "", /^Basic realm="homeward status"/);
  });

  test("log in, see the device's row, and a revoked device's lines counted as rejected", async (t) => {
    const browser = await launchChromium({ t });
    const context = await newLoopbackContext(browser, {
      httpCredentials: { username: USER, password: PASSWORD },
      viewport: { width: 1280, height: 640 },
      timezoneId: "UTC",
    });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") problems.push(message.text());
    });
    const response = await page.goto(statusUrl);
    assert.equal(response?.status(), 200);
    assert.match(
      response?.headers()["content-security-policy"] ?? "",
      /default-src 'none'; style-src 'sha256-/,
    );
    assert.equal(await page.title(), "homeward status");

    const grandma = page.locator('tr[data-key-id="grandma-pi"]');
    await grandma.waitFor();
    assert.equal(await grandma.getAttribute("data-state"), "active");
    assert.match(await grandma.locator("td.last-seen").innerText(), /\d+ s ago/);
    assert.match(await grandma.locator("td.rate").innerText(), /^5\n5 accepted$/);
    assert.match(await grandma.locator("td.rejected").innerText(), /^0$/);
    assert.match(await grandma.locator("td.skew").innerText(), /^\+[34] s/);
    assert.match(await grandma.locator("td.buffer").innerText(), /^12 lines\noldest 40 s/);

    const retired = page.locator('tr[data-key-id="retired-pi"]');
    assert.equal(await retired.getAttribute("data-state"), "disabled");
    assert.match(await retired.locator("td").nth(1).innerText(), /disabled \(revoked\)/);
    assert.match(await retired.locator("td.rejected").innerText(), /^3 \(3\/min\)\nkey_disabled 3$/);
    assert.match(await retired.locator("td.rate").innerText(), /^0\n0 accepted$/);

    const uncle = page.locator('tr[data-key-id="uncle-pi"]');
    assert.match(await uncle.locator("td.rejected").innerText(), /bad_signature 1/);
    assert.match(await uncle.locator("td.skew").innerText(), /^\+1 h 30 min/);
    assert.match(await uncle.locator("td.buffer").innerText(), /^18,250 lines\noldest 1 h 30 min/);

    const stranger = page.locator('tr[data-key-id="stranger"]');
    assert.equal(await stranger.getAttribute("data-state"), "not_in_auth_file");
    assert.match(await stranger.locator("td.rejected").innerText(), /unknown_key 1/);

    // The stylesheet is allowed by its hash: it applies, and the browser reports no CSP violation.
    const headerColor = await page
      .locator("th")
      .first()
      // Runs in the page; the project's TypeScript has no DOM types, hence the cast.
      .evaluate(
        (element) =>
          (
            globalThis as unknown as { getComputedStyle(node: unknown): { backgroundColor: string } }
          ).getComputedStyle(element).backgroundColor,
      );
    assert.equal(headerColor, "rgb(238, 241, 245)");
    assert.deepEqual(problems, []);
    assert.equal(await page.locator('meta[http-equiv="refresh"]').getAttribute("content"), "10");

    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    const json = (await (await page.request.get(`${statusUrl}status.json`)).json()) as {
      devices: { key_id: string; rejected: Record<string, number>; buffer: { depth: number } | null }[];
    };
    const byKey = new Map(json.devices.map((device) => [device.key_id, device]));
    assert.deepEqual(byKey.get("retired-pi")?.rejected, { key_disabled: 3 });
    assert.equal(byKey.get("grandma-pi")?.buffer?.depth, 12);
  });
});
