import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, resolveServerOptions } from "../../../server-stub/config.ts";
import {
  checkBasicAuth,
  parseStatusUsers,
  passwordProblem,
  StatusUsersError,
} from "../../../server-stub/status/status-users.ts";
import { runHomeward } from "../../support/cli.ts";

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("status page users", () => {
  test("a password needs 8+ characters, an upper-case letter, a lower-case letter and a digit", () => {
    assert.equal(passwordProblem("Tr0ubadour"), undefined);
    assert.equal(passwordProblem("Abcdef12"), undefined);
    assert.match(passwordProblem("Abcde12") ?? "", /at least 8 characters/);
    assert.match(passwordProblem("abcdefg1") ?? "", /upper-case/);
    assert.match(passwordProblem("ABCDEFG1") ?? "", /lower-case/);
    assert.match(passwordProblem("Abcdefgh") ?? "", /digit/);
    assert.match(
      passwordProblem("") ?? "",
      /8 characters, an upper-case letter, a lower-case letter, a digit/,
    );
  });

  test("a weak password is refused, naming the user and never the password", () => {
    for (const [text, user] of [
      ["owner:Str0ngPassword,sister:weakpass1", "sister"],
      ["owner:short1A", "owner"],
    ] as const) {
      const password = text.split(",").at(-1)?.split(":")[1] as string;
      assert.throws(
        () => parseStatusUsers(text),
        (error: unknown) =>
          error instanceof StatusUsersError &&
          error.message.includes(`"${user}"`) &&
          !error.message.includes(password),
      );
    }
    assert.throws(() => parseStatusUsers("Passw0rdWithoutUser"), /entry 1: expected user:password/);
    assert.throws(
      () => parseStatusUsers("Passw0rdWithoutUser"),
      (error: Error) => !error.message.includes("Passw0rd"),
    );
    assert.throws(() => parseStatusUsers("a:Passw0rd1,a:Passw0rd2"), /listed twice/);
    assert.throws(() => parseStatusUsers(" , "), /no status users/);
  });

  test("basic auth: the right user and password only; a password may hold a colon", () => {
    const users = parseStatusUsers("owner:Tr0ub:adour, sister:Sec0ndUser");
    assert.equal(checkBasicAuth(users, basic("owner", "Tr0ub:adour")), "owner");
    assert.equal(checkBasicAuth(users, basic("sister", "Sec0ndUser")), "sister");
    assert.equal(checkBasicAuth(users, basic("sister", "Tr0ub:adour")), undefined);
    assert.equal(checkBasicAuth(users, basic("owner", "Tr0ub:adou")), undefined);
    assert.equal(checkBasicAuth(users, basic("nobody", "Tr0ub:adour")), undefined);
    assert.equal(checkBasicAuth(users, undefined), undefined);
    assert.equal(checkBasicAuth(users, "Bearer abc"), undefined);
    assert.equal(checkBasicAuth(users, "Basic !!!"), undefined);
    assert.equal(checkBasicAuth(users, `Basic ${Buffer.from("no colon").toString("base64")}`), undefined);
  });

  test("--status-addr needs users; users come from HOMEWARD_STATUS_AUTH or --status-users", () => {
    assert.throws(
      () => resolveServerOptions({ "status-addr": "127.0.0.1:0" }, {}),
      (error: unknown) => error instanceof ConfigError && /HOMEWARD_STATUS_AUTH/.test(error.message),
    );
    const fromEnv = resolveServerOptions(
      { "status-addr": "127.0.0.1:0" },
      { HOMEWARD_STATUS_AUTH: "owner:Tr0ubadour" },
    );
    assert.deepEqual(fromEnv.statusAddr, { scheme: "http", host: "127.0.0.1", port: 0 });
    assert.deepEqual(
      fromEnv.statusUsers.map((user) => user.name),
      ["owner"],
    );
    const fromFlag = resolveServerOptions(
      { "status-addr": "http://127.0.0.1:9999", "status-users": "a:Passw0rdA,b:Passw0rdB" },
      { HOMEWARD_STATUS_AUTH: "owner:Tr0ubadour" },
    );
    assert.deepEqual(
      fromFlag.statusUsers.map((user) => user.name),
      ["a", "b"],
    );
    assert.throws(
      () => resolveServerOptions({ "status-addr": "https://127.0.0.1:0", "status-users": "a:Passw0rdA" }, {}),
      /--tls-cert/,
    );
    assert.throws(
      () => resolveServerOptions({ "status-addr": "tcp://127.0.0.1:0", "status-users": "a:Passw0rdA" }, {}),
      /http:\/\/ or https:\/\//,
    );
    assert.equal(resolveServerOptions({}, {}).statusAddr, undefined);
  });

  test("homeward server refuses to start with a weak status password, and does not print it", async () => {
    const result = await runHomeward(
      ["server", "--status-addr", "127.0.0.1:0", "--listen", "tcp://127.0.0.1:0"],
      {
        env: { HOMEWARD_STATUS_AUTH: "owner:Tr0ubadour,auntie:letmein99" },
      },
    );
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /status user "auntie": the password is too weak; it needs an upper-case letter/,
    );
    assert.ok(!`${result.stdout}${result.stderr}`.includes("letmein99"));
    assert.ok(!`${result.stdout}${result.stderr}`.includes("Tr0ubadour"));
  });
});
