/** Caps on open connections, in total and per source address. */
export interface ConnectionCapsPolicy {
  readonly maxTotal: number;
  readonly maxPerSource: number;
}

export type ConnectionRefusal = "too_many_connections" | "too_many_connections_from_source";

export class ConnectionCaps {
  private total = 0;
  private readonly perSource = new Map<string, number>();

  constructor(private readonly policy: ConnectionCapsPolicy) {}

  get open(): number {
    return this.total;
  }

  /** Takes a slot for a new connection, or says why not. Every success must be released once. */
  acquire(source: string): ConnectionRefusal | undefined {
    if (this.total >= this.policy.maxTotal) return "too_many_connections";
    const fromSource = this.perSource.get(source) ?? 0;
    if (fromSource >= this.policy.maxPerSource) return "too_many_connections_from_source";
    this.total++;
    this.perSource.set(source, fromSource + 1);
    return undefined;
  }

  release(source: string): void {
    const fromSource = this.perSource.get(source) ?? 0;
    if (fromSource <= 0) return;
    this.total--;
    if (fromSource === 1) this.perSource.delete(source);
    else this.perSource.set(source, fromSource - 1);
  }
}
