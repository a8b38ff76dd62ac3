/** Lines or readings the agent gave up on, by named reason, since it started. */
export class DropCounters {
  readonly #counts = new Map<string, number>();

  add(reason: string, count: number): void {
    if (count <= 0) return;
    this.#counts.set(reason, (this.#counts.get(reason) ?? 0) + count);
  }

  addAll(counts: Readonly<Record<string, number | undefined>>): void {
    for (const [reason, count] of Object.entries(counts)) this.add(reason, count ?? 0);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.#counts);
  }
}
