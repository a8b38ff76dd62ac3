import type { SendOutcome, Transport } from "../../../../agent/transports/transport.ts";

export interface Send {
  readonly at: number;
  readonly lines: readonly string[];
  readonly outcome: SendOutcome;
}

/** A transport that answers from a script and remembers every send, with the (virtual) time. */
export class RecordingTransport implements Transport {
  readonly target = "https://metrics.example.org/v1/lines";
  readonly host = "metrics.example.org";
  readonly sends: Send[] = [];

  constructor(
    private readonly now: () => number,
    private readonly answer: (
      lines: readonly string[],
      attempt: number,
    ) => SendOutcome | Promise<SendOutcome>,
  ) {}

  async send(lines: readonly string[]): Promise<SendOutcome> {
    const at = this.now();
    const outcome = await this.answer(lines, this.sends.length + 1);
    this.sends.push({ at, lines: [...lines], outcome });
    return outcome;
  }

  /** The lines of every delivered batch, in order. */
  delivered(): string[] {
    return this.sends.filter((send) => send.outcome.kind === "delivered").flatMap((send) => send.lines);
  }

  async close(): Promise<void> {}
}

export function deliveredAll(lines: readonly string[]): SendOutcome {
  return { kind: "delivered", accepted: lines.length, rejected: {} };
}
