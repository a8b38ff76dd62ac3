import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { disposeAfter, makeTempDir, removeTempDir, type AfterHook } from "./cleanup.ts";

const execFileAsync = promisify(execFile);

export interface CertificatePair {
  certFile: string;
  keyFile: string;
  /** PEM text of the certificate and key, for node:tls options. */
  cert: string;
  key: string;
}

/** A throwaway CA with a server certificate for 127.0.0.1/localhost and client certificates. */
export interface TestPki {
  dir: string;
  caFile: string;
  /** PEM text of the CA certificate. */
  ca: string;
  server: CertificatePair;
  /** One per requested client name; the name is the certificate's CN. */
  clients: Record<string, CertificatePair>;
  dispose(): Promise<void>;
}

export interface TestPkiOptions {
  /** Client certificate common names (default none). */
  clientNames?: readonly string[];
  /** Remove the files after this test (or suite). */
  t?: AfterHook;
}

async function openssl(dir: string, args: readonly string[]): Promise<void> {
  try {
    await execFileAsync("openssl", args, { cwd: dir });
  } catch (error) {
    const failure = error as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0] ?? ""} failed: ${failure.stderr?.trim() || failure.message}`, {
      cause: error,
    });
  }
}

const SERVER_EXTENSIONS =
  "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n";

// P-256 keys: generated in milliseconds, unlike RSA, and accepted by node:tls and mosquitto alike.
const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

async function issue(
  dir: string,
  name: string,
  subject: string,
  extensions: string,
): Promise<CertificatePair> {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  const csrFile = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, extensions);
  await openssl(dir, ["req", ...NEW_KEY, "-keyout", keyFile, "-out", csrFile, "-subj", subject]);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    csrFile,
    "-CA",
    join(dir, "ca.crt"),
    "-CAkey",
    join(dir, "ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    extFile,
    "-out",
    certFile,
  ]);
  return { certFile, keyFile, cert: await readFile(certFile, "utf8"), key: await readFile(keyFile, "utf8") };
}

/** Creates a CA, a server certificate and client certificates with the `openssl` command. */
export async function createTestPki(options: TestPkiOptions = {}): Promise<TestPki> {
  const dir = makeTempDir("pki");
  try {
    const caFile = join(dir, "ca.crt");
    await openssl(dir, [
      "req",
      "-x509",
      ...NEW_KEY,
      "-keyout",
      join(dir, "ca.key"),
      "-out",
      caFile,
      "-days",
      "2",
      "-subj",
      "/CN=homeward test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    const server = await issue(dir, "server", "/CN=localhost", SERVER_EXTENSIONS);
    const clients: Record<string, CertificatePair> = {};
    for (const [index, name] of (options.clientNames ?? []).entries()) {
      clients[name] = await issue(
        dir,
        `client-${index}`,
        `/CN=${name}`,
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
      );
    }
    const pki: TestPki = {
      dir,
      caFile,
      ca: await readFile(caFile, "utf8"),
      server,
      clients,
      dispose: () => removeTempDir(dir),
    };
    return disposeAfter(options.t, pki);
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}

/** A certificate's validity period. */
export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** openssl's ASN.1 GeneralizedTime: YYYYMMDDHHMMSSZ. */
function generalizedTime(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, "").slice(0, 14)}Z`;
}

/**
 * Another server certificate for 127.0.0.1/localhost from `pki`'s CA, with a key of its own (so it
 * does not match a pin on the first one's key). With `validity`, exactly those dates: in the past
 * for an expired certificate. OpenSSL 3.0's `x509 -req` only counts days forward from now (its
 * `-not_before`/`-not_after` came in 3.4), so dates go through `openssl ca`, which takes
 * `-startdate`/`-enddate` and needs a small config and database of its own.
 */
export async function issueServerCertificate(
  pki: TestPki,
  name: string,
  options: { validity?: Validity } = {},
): Promise<CertificatePair> {
  if (options.validity === undefined) return issue(pki.dir, name, "/CN=localhost", SERVER_EXTENSIONS);
  const { dir } = pki;
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  const csrFile = join(dir, `${name}.csr`);
  const configFile = join(dir, `${name}.ca.cnf`);
  const database = join(dir, `${name}.index`);
  const serial = join(dir, `${name}.serial`);
  await writeFile(database, "");
  await writeFile(serial, `${randomBytes(8).toString("hex")}\n`);
  await writeFile(
    configFile,
    [
      "[ca]",
      "default_ca = test_ca",
      "[test_ca]",
      `database = ${database}`,
      `serial = ${serial}`,
      `new_certs_dir = ${dir}`,
      "default_md = sha256",
      "policy = any_name",
      "copy_extensions = none",
      "unique_subject = no",
      "[any_name]",
      "commonName = supplied",
      "[server_ext]",
      SERVER_EXTENSIONS.trim().replace(/=/g, " = "),
      "",
    ].join("\n"),
  );
  await openssl(dir, ["req", ...NEW_KEY, "-keyout", keyFile, "-out", csrFile, "-subj", "/CN=localhost"]);
  await openssl(dir, [
    "ca",
    "-batch",
    "-notext",
    "-config",
    configFile,
    "-cert",
    pki.caFile,
    "-keyfile",
    join(dir, "ca.key"),
    "-in",
    csrFile,
    "-out",
    certFile,
    "-startdate",
    generalizedTime(options.validity.notBefore),
    "-enddate",
    generalizedTime(options.validity.notAfter),
    "-extensions",
    "server_ext",
  ]);
  return { certFile, keyFile, cert: await readFile(certFile, "utf8"), key: await readFile(keyFile, "utf8") };
}
