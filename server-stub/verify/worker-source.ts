/**
 * The verify worker's code, as plain JavaScript run with `new Worker(source, { eval: true })`.
 * It is a string rather than a module so that it runs unchanged under tsx and inside the single
 * bundled binary (where there is no worker file to point at), and it loads nothing but node:crypto.
 *
 * A batch is one string, one job per line: `<public keys, comma-separated>\t<signature>\t<message>`
 * (messages hold no tab or newline: the parser refuses control bytes). The reply is one byte per
 * job, 1 for a good signature, and the time the batch took (this thread's CPU where Node can say).
 */
export const VERIFY_WORKER_SOURCE = String.raw`
"use strict";
const { parentPort } = require("node:worker_threads");
const { createPublicKey, verify } = require("node:crypto");
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const MAX_CACHED_KEYS = 10000;
const keys = new Map();

function keyObject(base64) {
  let key = keys.get(base64);
  if (key === undefined) {
    if (keys.size >= MAX_CACHED_KEYS) keys.clear();
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(base64, "base64")]), format: "der", type: "spki" });
    keys.set(base64, key);
  }
  return key;
}

// process.cpuUsage counts every thread; threadCpuUsage (Node 23.9+) only this one. Else wall time.
const threadCpu = typeof process.threadCpuUsage === "function";
const clock = () => {
  if (!threadCpu) return performance.now() * 1000;
  const used = process.threadCpuUsage();
  return used.user + used.system;
};

parentPort.on("message", (batch) => {
  const started = clock();
  const jobs = batch.data.split("\n");
  const results = new Uint8Array(jobs.length);
  for (let index = 0; index < jobs.length; index++) {
    const job = jobs[index];
    const firstTab = job.indexOf("\t");
    const secondTab = job.indexOf("\t", firstTab + 1);
    const signature = Buffer.from(job.slice(firstTab + 1, secondTab), "base64");
    const message = Buffer.from(job.slice(secondTab + 1), "utf8");
    for (const publicKey of job.slice(0, firstTab).split(",")) {
      try {
        if (verify(null, message, keyObject(publicKey), signature)) {
          results[index] = 1;
          break;
        }
      } catch {
        // a malformed key or signature is a failed verification
      }
    }
  }
  parentPort.postMessage({ id: batch.id, results, cpuMicros: clock() - started }, [results.buffer]);
});
`;
