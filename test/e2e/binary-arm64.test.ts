import { describe } from "node:test";
import { ensureArm64Sysroot, ensureBinaries, hasCommand, QEMU } from "./support/binaries.ts";
import { binaryContract } from "./support/binary-contract.ts";

describe("dist/homeward-linux-arm64, under qemu-aarch64-static", () => {
  binaryContract("linux-arm64", () => {
    if (!hasCommand(QEMU)) throw new Error(`${QEMU} is missing (Debian: qemu-user-static)`);
    ensureArm64Sysroot();
    ensureBinaries();
  });
});
