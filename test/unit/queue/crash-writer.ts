// Run by disk-queue.test.ts as a child process and killed with SIGKILL at a random moment:
// appends and flushes forever, printing what is durable ("F <round> <index>") and what is acked
// ("A <record>") only after the promise that makes it so has resolved.
import { DiskQueue } from "../../../queue/disk-queue.ts";

const [dir, round] = process.argv.slice(2);
if (!dir || !round) throw new Error("usage: crash-writer.ts <dir> <round>");
const queue = await DiskQueue.open({ dir, segmentBytes: 32 * 1024, flushIntervalMs: 1 });
const filler = "x".repeat(60);
let index = 0;
for (let step = 1; ; step++) {
  const records: string[] = [];
  for (let count = 0; count < 40; count++) records.push(`r${round}-${index++} ${filler}`);
  queue.append(records);
  await queue.flush();
  process.stdout.write(`F ${round} ${index - 1}\n`);
  if (step % 3 === 0) {
    const batch = await queue.peek(70);
    await queue.ack(batch);
    const last = batch.records.at(-1);
    if (last !== undefined) process.stdout.write(`A ${last.split(" ")[0]}\n`);
  }
}
