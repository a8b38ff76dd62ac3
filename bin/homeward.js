#!/usr/bin/env node
// The npm entry point: runs the TypeScript sources through tsx, so `npx homeward` needs no build step.
// The single binary (scripts/build-binaries) bundles bin/main.ts directly instead.
import { register } from "tsx/esm/api";

register();
await import("./main.ts");
