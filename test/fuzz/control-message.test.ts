import { describe, test } from "node:test";
import { controlRandomTarget, controlSignedTarget } from "./targets.ts";

describe("MQTT control messages under fuzzing (npm run fuzz runs the same properties a million times)", () => {
  test("random bytes, JSON and envelopes: never thrown, always refused with a named reason", () => {
    controlRandomTarget.check({ numRuns: 3_000 });
  });

  test("signed messages with any fields and small edits: only the owner's, unchanged, fresh and for this device open", () => {
    controlSignedTarget.check({ numRuns: 2_000 });
  });
});
