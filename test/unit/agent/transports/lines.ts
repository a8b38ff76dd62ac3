/** Well-formed signed lines for transport tests (the signature is never checked here). */
export function testLines(count: number, from = 0, metric = "homeward.grandma-pi.test.value"): string[] {
  return Array.from(
    { length: count },
    (_, index) => `${metric} ${from + index} ${1764000000 + from + index} grandma-pi ${"A".repeat(86)}==`,
  );
}
