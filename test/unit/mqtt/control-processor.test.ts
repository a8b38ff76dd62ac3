import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import { ControlProcessor } from "../../../agent/control/control-processor.ts";
import type { ControlOutcome } from "../../../agent/control/control-processor.ts";
import { NonceMemory } from "../../../agent/control/nonce-memory.ts";
import { REDACTED, redactSecrets } from "../../../agent/control/redact.ts";
import { loadAgentConfig } from "../../../agent/config/load.ts";
import type { LoadedAgentConfig } from "../../../agent/config/load.ts";
import { silentLogger } from "../../../agent/collectors/collector.ts";
import { newNonce, signControlMessage } from "../../../protocol/control-message.ts";
import type { ControlMessage, ControlOp } from "../../../protocol/control-message.ts";
import { ed25519Signer, generateEd25519KeyPair } from "../../../protocol/keys.ts";

const work = mkdtempSync(join(tmpdir(), "homeward-control-"));
after(() => rmSync(work, { recursive: true, force: true }));

const owner = generateEd25519KeyPair();
const stranger = generateEd25519KeyPair();
const ownerSigner = ed25519Signer(owner.secretKey);
const NOW_MS = 1_764_000_000_000;

const FILE = {
  device: "grandma-pi",
  key_file: "/etc/homeward/device.key",
  server: { url: "https://metrics.example.org" },
  collect: {
    net: { ping: ["192.168.1.1"], gateway: false },
    exec: [{ name: "boiler", command: ["/bin/true"], env: { API_TOKEN: "t0ps3cret" } }],
  },
  control: {
    url: "mqtts://broker.example.org:8883",
    username: "grandma-pi",
    password: "hunter2",
    owner_public_key: Buffer.from(owner.publicKey).toString("base64"),
  },
};

let stateDir: string;
let applied: LoadedAgentConfig[];
let processor: ControlProcessor;
let failApply: boolean;

beforeEach(() => {
  const dir = mkdtempSync(join(work, "case-"));
  stateDir = join(dir, "state");
  mkdirSync(stateDir);
  const configPath = join(dir, "agent.json");
  writeFileSync(configPath, JSON.stringify(FILE));
  applied = [];
  failApply = false;
  const loaded = loadAgentConfig({ configPath, stateDir });
  processor = new ControlProcessor({
    loaded,
    device: "grandma-pi",
    ownerPublicKeys: [Buffer.from(owner.publicKey).toString("base64")],
    maxSkewMs: 5 * 60_000,
    nonces: new NonceMemory({ windowMs: 5 * 60_000, nowMs: NOW_MS, file: join(stateDir, "nonces.json") }),
    onConfigChanged: (next) => {
      applied.push(next);
      if (failApply) throw new Error("scheduler said no");
    },
    version: "9.9.9",
    now: () => NOW_MS,
    log: silentLogger,
  });
});

function envelope(
  op: ControlOp,
  body?: unknown,
  fields: Partial<ControlMessage> = {},
  signer = ownerSigner,
): string {
  return signControlMessage(
    {
      v: 1,
      device: "grandma-pi",
      op,
      ...(body !== undefined && { body }),
      ts: NOW_MS / 1000,
      nonce: newNonce(),
      ...fields,
    },
    signer,
  );
}

async function send(text: string): Promise<ControlOutcome> {
  return processor.handle(Buffer.from(text));
}

function overridesOnDisk(): unknown {
  const file = join(stateDir, "overrides.json");
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined;
}

describe("ControlProcessor", () => {
  it("update: merges the keys, saves them, applies them live and answers with the new snapshot", async () => {
    const outcome = await send(
      envelope("update", { "collect.net.ping": ["1.1.1.1"], log: { level: "debug" } }),
    );
    assert.equal(outcome.kind, "accepted");
    assert.ok(outcome.kind === "accepted" && outcome.changed && outcome.reply.ok);
    assert.equal(applied.length, 1);
    assert.deepEqual(
      applied[0]?.config.collect.net.ping.map((target) => target.host),
      ["1.1.1.1"],
    );
    assert.equal(applied[0]?.config.log.level, "debug");
    assert.deepEqual(overridesOnDisk(), { collect: { net: { ping: ["1.1.1.1"] } }, log: { level: "debug" } });
    const snapshot = outcome.snapshot;
    const config = snapshot.config as typeof FILE & { log: unknown };
    assert.deepEqual(config.collect.net.ping, ["1.1.1.1"]);
    assert.equal(config.collect.net.gateway, false, "the file's keys are still there");
    assert.equal(config.control.password, REDACTED);
    assert.deepEqual(config.collect.exec[0]?.env, { API_TOKEN: REDACTED });
    assert.equal(snapshot.version, "9.9.9");
    assert.equal(snapshot.nonce, outcome.message.nonce);
    assert.ok(
      !JSON.stringify(snapshot).includes("hunter2") && !JSON.stringify(snapshot).includes("t0ps3cret"),
    );
    assert.equal(processor.stats().applied, 1);
  });

  it("forged, unsigned, stale, replayed and misdirected messages change nothing and are counted", async () => {
    const body = { "collect.net.ping": ["6.6.6.6"] };
    const good = envelope("update", { "collect.net.ping": ["1.1.1.1"] });
    assert.equal((await send(good)).kind, "accepted");
    const before = overridesOnDisk();
    const reasons = [
      await send(envelope("update", body, {}, ed25519Signer(stranger.secretKey))),
      await send((JSON.parse(envelope("update", body)) as { payload: string }).payload),
      await send(envelope("update", body, { ts: (NOW_MS - 10 * 60_000) / 1000 })),
      await send(good),
      await send(envelope("update", body, { device: "uncle-pi" })),
      await send("garbage"),
    ].map((outcome) => (outcome.kind === "rejected" ? outcome.reason : "accepted"));
    assert.deepEqual(reasons, [
      "bad_signature",
      "unsigned",
      "stale",
      "replayed",
      "wrong_device",
      "malformed",
    ]);
    assert.deepEqual(overridesOnDisk(), before);
    assert.equal(applied.length, 1, "only the good message was applied");
    const stats = processor.stats();
    assert.equal(stats.received, 7);
    assert.equal(stats.applied, 1);
    assert.deepEqual(Object.fromEntries(Object.entries(stats.rejected).filter(([, count]) => count > 0)), {
      bad_signature: 1,
      unsigned: 1,
      stale: 1,
      replayed: 1,
      wrong_device: 1,
      malformed: 1,
    });
  });

  it("a body the schema refuses changes nothing; the owner is told why", async () => {
    const cases: [unknown, RegExp][] = [
      [{ "collect.nett.x": 1 }, /unknown key/],
      [{ "collect.net.ping": ["not a host!"] }, /hostname or IP/],
      [{ "control.url": "mqtt://evil.example.org" }, /control can only be changed in the config file/],
      [{ device: "someone-else" }, /device can only be changed/],
      [["collect.net.ping"], /update takes an object/],
      [{}, /update takes an object/],
    ];
    for (const [body, problem] of cases) {
      const outcome = await send(envelope("update", body));
      assert.equal(outcome.kind, "rejected", JSON.stringify(body));
      assert.ok(outcome.kind === "rejected" && outcome.reason === "bad_body");
      assert.equal(outcome.reply?.ok, false);
      assert.match(outcome.reply?.problems?.join("\n") ?? "", problem);
    }
    assert.equal(overridesOnDisk(), undefined);
    assert.equal(applied.length, 0);
    assert.equal(processor.stats().rejected.bad_body, cases.length);
    assert.deepEqual(
      processor.loaded.config.collect.net.ping.map((target) => target.host),
      ["192.168.1.1"],
      "the old config stays",
    );
  });

  it("delete: named keys (saying which were not overridden), or every override", async () => {
    await send(envelope("update", { "collect.net.ping": ["1.1.1.1"], "log.level": "debug" }));
    const named = await send(envelope("delete", ["log.level", "clock.max_hold"]));
    assert.ok(named.kind === "accepted" && named.changed);
    assert.deepEqual(named.reply.missing, ["clock.max_hold"]);
    assert.deepEqual(overridesOnDisk(), { collect: { net: { ping: ["1.1.1.1"] } } });
    const all = await send(envelope("delete"));
    assert.ok(all.kind === "accepted");
    assert.deepEqual(overridesOnDisk(), {});
    assert.deepEqual(
      applied.at(-1)?.config.collect.net.ping.map((target) => target.host),
      ["192.168.1.1"],
      "back to the file",
    );
    const bad = await send(envelope("delete", { keys: ["x"] }));
    assert.ok(bad.kind === "rejected" && bad.reason === "bad_body");
  });

  it("read: answers with the snapshot, changes nothing", async () => {
    const outcome = await send(envelope("read", undefined, { reply_to: "homeward/grandma-pi/reply/x" }));
    assert.ok(outcome.kind === "accepted" && !outcome.changed);
    assert.equal(outcome.reply.snapshot?.device, "grandma-pi");
    assert.equal(applied.length, 0);
  });

  it("a change that cannot be applied live stays saved, and the reply says so", async () => {
    failApply = true;
    const outcome = await send(envelope("update", { "log.level": "warn" }));
    assert.ok(outcome.kind === "accepted");
    assert.equal(outcome.reply.apply_error, "scheduler said no");
    assert.deepEqual(overridesOnDisk(), { log: { level: "warn" } });
  });
});

describe("redactSecrets", () => {
  it("hides passwords, key material, env values and URL passwords; keeps paths and public keys", () => {
    assert.deepEqual(
      redactSecrets({
        password: "p",
        secret_key: "s",
        api_token: "t",
        key_file: "/etc/homeward/device.key",
        owner_public_key: "pub",
        nested: [{ private_key: "k", url: "https://user:pw@example.org/x", plain: "https://example.org" }],
        env: { A: "1" },
      }),
      {
        password: REDACTED,
        secret_key: REDACTED,
        api_token: REDACTED,
        key_file: "/etc/homeward/device.key",
        owner_public_key: "pub",
        nested: [
          {
            private_key: REDACTED,
            url: `https://user:${REDACTED}@example.org/x`,
            plain: "https://example.org",
          },
        ],
        env: { A: REDACTED },
      },
    );
  });
});
