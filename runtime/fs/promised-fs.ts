import {
  access,
  close,
  fdatasync,
  fstat,
  fsync,
  ftruncate,
  mkdir,
  open,
  read,
  readdir,
  readFile,
  rename,
  statfs,
  unlink,
  write,
  writeFile,
} from "node:fs";
import { promisify } from "node:util";

/**
 * node:fs's callback API as promises, for the agent's long-running code instead of fs/promises: on
 * Node 24, fs/promises loads the readline interface and the REPL history, RSS the agent would carry
 * for nothing (BENCHMARKS.md, "Agent"; test/unit/agent/steady-builtins.test.ts checks it stays out).
 */
export const promisedFs = {
  access: promisify(access),
  close: promisify(close),
  fdatasync: promisify(fdatasync),
  fstat: promisify(fstat),
  fsync: promisify(fsync),
  ftruncate: promisify(ftruncate),
  mkdir: promisify(mkdir),
  open: promisify(open),
  read: promisify(read),
  readdir: promisify(readdir),
  readFile: promisify(readFile),
  rename: promisify(rename),
  statfs: promisify(statfs),
  unlink: promisify(unlink),
  write: promisify(write),
  writeFile: promisify(writeFile),
};
