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
 * go out together when it ends (or when a batch is full), to whichever worker has least in flight.
 */
export class VerifyWorkerPool {
  private readonly slots: WorkerSlot[] = [];
  private queued: PendingBatch = { resolvers: [], jobs: [] };
  private flushScheduled = false;
  private nextBatchId = 1;
  private closed = false;
  private verified = 0;
  private cpuMicros = 0;
  private readonly maxBatch: number;

  constructor(private readonly options: WorkerPoolOptions) {
    this.maxBatch = options.maxBatch ?? 256;
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
    if (this.queued.jobs.length >= this.maxBatch) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  async close(): Promise<void> {
    this.flush();
    this.closed = true;
    const inFlight = this.slots.flatMap((slot) => [...slot.batches.values()]);
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
    for (const batch of inFlight) this.runOnThisThread(batch);
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
  }

  private runOnThisThread(batch: PendingBatch): void {
    batch.jobs.forEach((job, index) =>
      (batch.resolvers[index] as (good: boolean) => void)(this.options.fallback(job)),
    );
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queued;
    if (batch.jobs.length === 0) return;
    this.queued = { resolvers: [], jobs: [] };
    if (this.closed || this.slots.length === 0) {
      this.runOnThisThread(batch);
      return;
    }
    let slot = this.slots[0] as WorkerSlot;
    for (const candidate of this.slots) if (candidate.inFlightJobs < slot.inFlightJobs) slot = candidate;
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
