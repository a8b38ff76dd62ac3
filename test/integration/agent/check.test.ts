// `homeward agent --check`: validates the config and the key, sends one signed test line to the
// server, and says in words what is wrong.
import assert from "node:assert/strict";
import { chmodSync } from "node:fs";
import { describe, it } from "node:test";
import { startCarbon } from "../../harness/carbon.ts";
import { runHomeward } from "../../support/cli.ts";
import { DESIGN_AUTH_FILE, startTestServer } from "../server/fixture.ts";
import type { AgentDevice } from "./fixture.ts";
import { makeDevice } from "./fixture.ts";

function check(device: AgentDevice): ReturnType<typeof runHomeward> {
  return runHomeward(["agent", "--config", device.configFile, "--state-dir", device.stateDir, "--check"]);
}

describe("homeward agent --check", () => {
  it("says ok for a good setup, FAIL with the reason for a key the server does not know or a loose key file", async (t) => {
    const carbon = await startCarbon({ t });
    const known = makeDevice("checked-pi");
    const stranger = makeDevice("stranger-pi");
    const loose = makeDevice("loose-pi");
    const server = await startTestServer({
      t,
      carbonPort: carbon.linePort,
      authText: `${DESIGN_AUTH_FILE}${known.authEntry}${loose.authEntry}`,
    });
    const url = `http://127.0.0.1:${server.port("http")}`;
    for (const device of [known, stranger, loose]) device.writeConfig({ server: { url } });
    chmodSync(loose.keyFile, 0o644);

    const good = await check(known);
    assert.equal(good.code, 0, `${good.stdout}${good.stderr}`);
    const goodLines = good.stdout.trim().split("\n");
    assert.ok(goodLines.length >= 3, good.stdout);
    assert.ok(
      goodLines.every((line) => line.startsWith("ok ")),
      good.stdout,
    );
    assert.match(good.stdout, /^ok {3}config .*agent\.json: valid$/m);
    assert.match(good.stdout, /^ok {3}key .*device\.key: ed25519 key "checked-pi"$/m);
    assert.match(good.stdout, new RegExp(`^ok {3}server ${url}/v1/lines: accepted a signed test line$`, "m"));
    // The dry run is a real datapoint.
    await carbon.waitForPoints("homeward.checked-pi.self.check", (points) =>
      points.some(([, value]) => value === 1),
    );

    const unknown = await check(stranger);
    assert.equal(unknown.code, 1, `${unknown.stdout}${unknown.stderr}`);
    const failure = unknown.stdout.split("\n").find((line) => line.startsWith("FAIL"));
    assert.ok(failure, unknown.stdout);
    assert.match(failure, new RegExp(`^FAIL server ${url}/v1/lines: .*unknown_key`), unknown.stdout);

    const refused = await check(loose);
    assert.equal(refused.code, 1, `${refused.stdout}${refused.stderr}`);
    assert.match(
      refused.stdout,
      /^FAIL key file .*device\.key: permissions 0644 are too open; .* Fix it with: chmod 600 .*device\.key$/m,
    );
    assert.doesNotMatch(refused.stdout, /^ok {3}server/m, "no line is sent with a key that was refused");
    for (const [what, result] of [
      ["good setup", good],
      ["unknown key", unknown],
      ["loose key file", refused],
    ] as const) {
      t.diagnostic(`${what}: ${result.stdout.trim().split("\n").join(" | ")}`);
    }
  });
});
