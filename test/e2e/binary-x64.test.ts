import { describe } from "node:test";
import { ensureBinaries } from "./support/binaries.ts";
import { binaryContract } from "./support/binary-contract.ts";

// Builds dist/ first if needed (a few minutes on a fresh clone; the Node tarballs are cached in build/).
describe("dist/homeward-linux-x64, natively", () => {
  binaryContract("linux-x64", ensureBinaries);
});
