import assert from "node:assert/strict";
import { test } from "node:test";
import { ConnectionCaps } from "../../../../server-stub/limits/connection-caps.ts";

test("connection caps hold per source and in total, and release frees a slot", () => {
  const caps = new ConnectionCaps({ maxTotal: 3, maxPerSource: 2 });
  assert.equal(caps.acquire("a"), undefined);
  assert.equal(caps.acquire("a"), undefined);
  assert.equal(caps.acquire("a"), "too_many_connections_from_source");
  assert.equal(caps.acquire("b"), undefined);
  assert.equal(caps.acquire("c"), "too_many_connections");
  caps.release("a");
  assert.equal(caps.open, 2);
  assert.equal(caps.acquire("c"), undefined);
  caps.release("nobody");
  assert.equal(caps.open, 3);
});
