// Loaded into the agent with `node --import` (spawnAgent's `preload`): name lookups answered from a
// file the test rewrites, so a server name can stop and start resolving on demand without a DNS
// server, and without any query leaving the machine (this host's resolver is not on loopback).
//
// HOMEWARD_TEST_DNS_FILE: JSON `{ "<name>": "<IPv4 address>" | null }`, read on every lookup; null,
// or a name not in it, fails like getaddrinfo does for a name that does not exist (ENOTFOUND).
// "localhost" resolves to 127.0.0.1. Every lookup is appended to HOMEWARD_TEST_DNS_LOG as
// `<name> <address or error code>`, so the test can check which names the agent asked for.
import dns from "node:dns";
import type { LookupAddress, LookupOptions } from "node:dns";
import { appendFileSync, readFileSync } from "node:fs";

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address?: string | LookupAddress[],
  family?: number,
) => void;

const answersFile = process.env.HOMEWARD_TEST_DNS_FILE;
const logFile = process.env.HOMEWARD_TEST_DNS_LOG;
if (!answersFile || !logFile)
  throw new Error("dns-fault-preload needs HOMEWARD_TEST_DNS_FILE and HOMEWARD_TEST_DNS_LOG");

function answerFor(hostname: string): string | null {
  if (hostname === "localhost") return "127.0.0.1";
  const answers = JSON.parse(readFileSync(answersFile as string, "utf8")) as Record<string, string | null>;
  return answers[hostname] ?? null;
}

function notFound(hostname: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
    code: "ENOTFOUND",
    errno: -3008,
    syscall: "getaddrinfo",
    hostname,
  });
}

function lookup(
  hostname: string,
  options: LookupOptions | number | LookupCallback,
  callback?: LookupCallback,
): void {
  const done = (typeof options === "function" ? options : callback) as LookupCallback;
  const all = typeof options === "object" && options.all === true;
  const address = answerFor(hostname);
  appendFileSync(logFile as string, `${hostname} ${address ?? "ENOTFOUND"}\n`);
  process.nextTick(() => {
    if (address === null) done(notFound(hostname));
    else if (all) done(null, [{ address, family: 4 }]);
    else done(null, address, 4);
  });
}

dns.lookup = lookup as typeof dns.lookup;
dns.promises.lookup = ((hostname: string, options?: LookupOptions) =>
  new Promise((resolve, reject) => {
    lookup(hostname, options ?? {}, (error, address, family) => {
      if (error) reject(error);
      else
        resolve(Array.isArray(address) ? address : { address: address as string, family: family as number });
    });
  })) as typeof dns.promises.lookup;
