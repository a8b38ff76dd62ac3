import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfigError,
  parseBytes,
  resolveServerOptions,
  serverUsage,
  SERVER_FLAGS,
} from "../../../server-stub/config.ts";

describe("homeward server flags", () => {
  test("with nothing set, amproxy's defaults", () => {
    const options = resolveServerOptions({}, {});
    assert.deepEqual(options.listen, [{ scheme: "tcp", host: "127.0.0.1", port: 2005 }]);
    assert.equal(options.authFile, "/etc/amproxy/auth_file.yaml");
    assert.deepEqual(options.carbon, { host: "127.0.0.1", port: 2003 });
    assert.equal(options.skewMs, 300_000);
    assert.equal(options.logFormat, "logfmt");
    assert.equal(options.logLevel, "info");
    assert.equal(options.maxAgeMs, 7 * 86_400_000);
    assert.equal(options.maxLineBytes, 1024);
    assert.equal(options.metricsAddr, undefined);
  });

  test("amproxy's environment variables work, and flags win over them", () => {
    const env = {
      ADDR: "0.0.0.0:2015",
      AUTH_FILE: "/srv/auth.yaml",
      CARBON_ADDR: "10.0.0.5:2003",
      MAX_SKEW: "1m30s",
    };
    const fromEnv = resolveServerOptions({}, env);
    assert.deepEqual(fromEnv.listen, [{ scheme: "tcp", host: "0.0.0.0", port: 2015 }]);
    assert.equal(fromEnv.authFile, "/srv/auth.yaml");
    assert.deepEqual(fromEnv.carbon, { host: "10.0.0.5", port: 2003 });
    assert.equal(fromEnv.skewMs, 90_000);
    const flags = resolveServerOptions({ addr: ":2016", skew: "5m0s", "auth-file": "/a.yaml" }, env);
    assert.deepEqual(flags.listen, [{ scheme: "tcp", host: "0.0.0.0", port: 2016 }]);
    assert.equal(flags.skewMs, 300_000);
    assert.equal(flags.authFile, "/a.yaml");
  });

  test("--listen replaces the default --addr, which is added back only when given", () => {
    const listen = ["tcp://127.0.0.1:2005", "https://0.0.0.0:2443"];
    const tls = { "tls-cert": "/c.pem", "tls-key": "/k.pem" };
    assert.deepEqual(
      resolveServerOptions({ listen, ...tls }, {}).listen.map((item) => item.scheme),
      ["tcp", "https"],
    );
    assert.deepEqual(
      resolveServerOptions({ listen, ...tls, addr: "127.0.0.1:2007" }, {}).listen.map(
        (item) => `${item.scheme}:${item.port}`,
      ),
      ["tcp:2007", "tcp:2005", "https:2443"],
    );
    assert.equal(
      resolveServerOptions({}, { LISTEN: "http://127.0.0.1:8080, tcp://[::1]:2005" }).listen.length,
      2,
    );
  });

  test("an empty environment variable counts as unset", () => {
    assert.deepEqual(resolveServerOptions({}, { ADDR: "" }).listen, [
      { scheme: "tcp", host: "127.0.0.1", port: 2005 },
    ]);
  });

  test("mistakes are ConfigErrors that name the flag", () => {
    const cases: [Record<string, string | string[]>, RegExp][] = [
      [{ skew: "five minutes" }, /--skew/],
      [{ "log-format": "xml" }, /--log-format/],
      [{ "log-level": "verbose" }, /--log-level/],
      [{ "carbon-addr": "carbon" }, /--carbon-addr/],
      [{ listen: ["udp://0.0.0.0:2003"] }, /scheme/],
      [{ listen: ["tls://0.0.0.0:2006"] }, /--tls-cert/],
      [{ "max-line-bytes": "-1" }, /--max-line-bytes/],
      [{ "key-rate": "0" }, /--key-rate/],
      [{ "max-body-bytes": "1 parsec" }, /--max-body-bytes/],
    ];
    for (const [values, message] of cases) {
      assert.throws(
        () => resolveServerOptions(values, {}),
        (error: Error) => error instanceof ConfigError && message.test(error.message),
      );
    }
  });

  test("sizes take plain bytes and KiB/MiB/GiB", () => {
    assert.equal(parseBytes("1048576", "x"), 1048576);
    assert.equal(parseBytes("512KiB", "x"), 524288);
    assert.equal(parseBytes("1MiB", "x"), 1048576);
    assert.equal(parseBytes("2GiB", "x"), 2 * 1024 ** 3);
  });

  test("--verify-workers auto picks none on one core and one per core otherwise; a number is taken as is", () => {
    assert.ok(resolveServerOptions({}, {}).verifyWorkers !== 1);
    assert.equal(resolveServerOptions({ "verify-workers": "3" }, {}).verifyWorkers, 3);
  });

  test("the usage text lists every flag with its environment variable", () => {
    const usage = serverUsage();
    for (const flag of SERVER_FLAGS) {
      assert.ok(usage.includes(`--${flag.name}`), flag.name);
      if (flag.env) assert.ok(usage.includes(`env ${flag.env}`), flag.env);
    }
  });
});
