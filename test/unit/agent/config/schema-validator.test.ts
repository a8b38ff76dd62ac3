// agent/config/schema-validator.generated.ts is agent/config/schema.ts compiled by ajv ahead of time;
// this fails when the schema (or ajv) changed and the file was not regenerated.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  GENERATED_VALIDATOR,
  generateAgentConfigValidator,
} from "../../../../scripts/build/agent-config-validator.ts";

describe("the precompiled agent config validator", () => {
  it("is what scripts/build/agent-config-validator.ts makes from the current schema", async () => {
    const expected = await generateAgentConfigValidator();
    assert.ok(
      readFileSync(GENERATED_VALIDATOR, "utf8") === expected,
      "agent/config/schema-validator.generated.ts is out of date: run node --import tsx scripts/build/agent-config-validator.ts",
    );
  });
});
