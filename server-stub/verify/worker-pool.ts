import { Worker } from "node:worker_threads";
import { VERIFY_WORKER_SOURCE } from "./worker-source.ts";

/** One Ed25519 verification, as the worker takes it. */
export interface VerifyJob {
  /** Base64 public keys (several while a key rotates). */
  readonly publicKeys: string;
  readonly signature: string;
  readonly message: string;
}

interface PendingBatch {
  readonly resolvers: ((good: boolean) => void)[];
  readonly jobs: VerifyJob[];
}

interface WorkerSlot {
  worker: Worker;
  inFlightJobs: number;
  readonly batches: Map<number, PendingBatch>;
}

export interface WorkerPoolOptions {
  readonly workers: number;
  /** Jobs per message: large enough to amortise messaging, small enough to spread over workers. */
  readonly maxBatch?: number;
  /** Batches sent to one worker before it answers: enough to never leave it waiting for the next. */
  readonly batchesInFlight?: number;
  /** Verifies on this thread when a worker dies with jobs in flight. */
  readonly fallback: (job: VerifyJob) => boolean;
  readonly onWorkerError?: (error: Error) => void;
}

export interface WorkerPoolStats {
  readonly verified: number;
  readonly cpuMicros: number;
}

/**
 * Ed25519 verification spread over worker threads. Jobs queued during one turn of the event loop
 * are cut into batches when it ends (or when a batch is full). Each worker holds at most a couple
 * of batches at a time, so one is waiting while it works on the other; the rest wait here and go
 * to whichever worker answers first. Committing every batch to a worker up front would leave one
 * worker idle while the other still has a queue (at the end of a burst, or while it is descheduled).
 */
export class VerifyWorkerPool {
  private readonly slots: WorkerSlot[] = [];
  private queued: PendingBatch = { resolvers: [], jobs: [] };
  /** Whole batches not yet sent to a worker, oldest first. */
  private waiting: PendingBatch[] = [];
  private flushScheduled = false;
  private nextBatchId = 1;
  private closed = false;
  private verified = 0;
  private cpuMicros = 0;
  private readonly maxBatch: number;
  private readonly batchesInFlight: number;

  constructor(private readonly options: WorkerPoolOptions) {
    this.maxBatch = options.maxBatch ?? 128;
    this.batchesInFlight = options.batchesInFlight ?? 2;
    for (let index = 0; index < options.workers; index++) this.slots.push(this.spawn());
  }

  get size(): number {
    return this.slots.length;
  }

  stats(): WorkerPoolStats {
    return { verified: this.verified, cpuMicros: this.cpuMicros };
  }

  /** Calls `done` with the verdict later (never synchronously). */
  verify(job: VerifyJob, done: (good: boolean) => void): void {
    if (this.closed) {
      queueMicrotask(() => done(this.options.fallback(job)));
      return;
    }
    this.queued.jobs.push(job);
    this.queued.resolvers.push(done);
    if (this.queued.jobs.length >= this.maxBatch) this.cutBatch();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  async close(): Promise<void> {
    this.flush();
    this.closed = true;
    const inFlight = this.slots.flatMap((slot) => [...slot.batches.values()]);
    const waiting = this.waiting;
    this.waiting = [];
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
    for (const batch of [...inFlight, ...waiting]) this.runOnThisThread(batch);
    this.slots.length = 0;
  }

  private spawn(): WorkerSlot {
    // execArgv: [] keeps the parent's --import tsx out of a worker that needs no TypeScript.
    const worker = new Worker(VERIFY_WORKER_SOURCE, { eval: true, execArgv: [] });
    const slot: WorkerSlot = { worker, inFlightJobs: 0, batches: new Map() };
    worker.on("message", (reply: { id: number; results: Uint8Array; cpuMicros: number }) => {
      const batch = slot.batches.get(reply.id);
      if (!batch) return;
      slot.batches.delete(reply.id);
      slot.inFlightJobs -= batch.jobs.length;
      this.verified += batch.jobs.length;
      this.cpuMicros += reply.cpuMicros;
      this.dispatch();
      for (let index = 0; index < batch.resolvers.length; index++) {
        (batch.resolvers[index] as (good: boolean) => void)(reply.results[index] === 1);
      }
    });
    worker.on("error", (error) => {
      this.options.onWorkerError?.(error);
      this.replace(slot);
    });
    worker.on("exit", () => {
      if (!this.closed) this.replace(slot);
    });
    return slot;
  }

  private replace(slot: WorkerSlot): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    const orphans = [...slot.batches.values()];
    slot.batches.clear();
    void slot.worker.terminate();
    if (!this.closed) this.slots[index] = this.spawn();
    for (const batch of orphans) this.runOnThisThread(batch);
    this.dispatch();
  }

  private runOnThisThread(batch: PendingBatch): void {
    batch.jobs.forEach((job, index) =>
      (batch.resolvers[index] as (good: boolean) => void)(this.options.fallback(job)),
    );
  }

  private cutBatch(): void {
    if (this.queued.jobs.length === 0) return;
    this.waiting.push(this.queued);
    this.queued = { resolvers: [], jobs: [] };
  }

  private flush(): void {
    this.flushScheduled = false;
    this.cutBatch();
    this.dispatch();
  }

  /** Sends waiting batches to the workers with room for them, least loaded first. */
  private dispatch(): void {
    if (this.closed || this.slots.length === 0) {
      const waiting = this.waiting;
      this.waiting = [];
      for (const batch of waiting) this.runOnThisThread(batch);
      return;
    }
    while (this.waiting.length > 0) {
      let slot: WorkerSlot | undefined;
      for (const candidate of this.slots) {
        if (candidate.batches.size >= this.batchesInFlight) continue;
        if (!slot || candidate.inFlightJobs < slot.inFlightJobs) slot = candidate;
      }
      if (!slot) return;
      this.post(slot, this.waiting.shift() as PendingBatch);
    }
  }

  private post(slot: WorkerSlot, batch: PendingBatch): void {
    const id = this.nextBatchId++;
    slot.batches.set(id, batch);
    slot.inFlightJobs += batch.jobs.length;
    let data = "";
    for (let index = 0; index < batch.jobs.length; index++) {
      const job = batch.jobs[index] as VerifyJob;
      data += `${index === 0 ? "" : "\n"}${job.publicKeys}\t${job.signature}\t${job.message}`;
    }
    slot.worker.postMessage({ id, data });
  }
}
