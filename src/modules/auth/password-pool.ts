import { Worker } from 'node:worker_threads';
import { OverloadedError } from '../../domain/errors.js';

/**
 * Runs in every worker before its handler. Plain JavaScript that works whether Node evaluates it as
 * a script or as a module (a parent started with `--input-type=module` makes it one), so it loads
 * modules through `load`, a require resolved from this file: the same under tsx/vitest (the .ts
 * source) and from dist/ (the compiled .js), both of which find the service's node_modules.
 *
 * It lowers the thread's own CPU priority to nice 19, the lowest, so on a busy core the scheduler
 * gives the event loop (nice 0) all the CPU it asks for and the hashes only what it leaves idle
 * (CFS weights 1024 against 15: the loop keeps ~98 %). Linux's setpriority(2) with a thread id
 * changes that one thread, and /proc/thread-self names it. Elsewhere (no /proc), or if the call
 * fails, the worker runs at normal priority: there is nothing better to do, so it goes on silently.
 *
 * Then it answers jobs one at a time, synchronously: the hash blocks this thread and nothing else.
 */
const PRELUDE = `
const load = process.getBuiltinModule('node:module').createRequire(${JSON.stringify(import.meta.url)});
const { parentPort } = load('node:worker_threads');
try {
  const tid = Number(load('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) load('node:os').setPriority(tid, 19);
} catch {}
parentPort.on('message', ({ id, task }) => {
  let reply;
  try {
    reply = { id, ok: true, value: handle(task) };
  } catch (error) {
    reply = { id, ok: false, message: String((error && error.message) || error) };
  }
  parentPort.postMessage(reply);
});
`;

export interface PoolOptions {
  /**
   * Plain JavaScript defining `function handle(task)`, which returns the job's result (anything
   * structured clone can copy) or throws. Evaluated in each worker after the prelude above; it loads
   * modules with `load(...)`, never `require` or `import`.
   */
  handler: string;
  /** How many workers, at most; they start on demand and stay until close(). */
  size: number;
  /** Jobs that may wait for a worker; one more is refused with OverloadedError. */
  maxQueued: number;
}

interface Job {
  id: number;
  task: unknown;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
  /** What ended the worker, when something thrown did (a handler that cannot load, say). */
  error?: unknown;
}

/**
 * A fixed set of worker threads at the lowest CPU priority, fed from one bounded queue, first come
 * first served. Workers never keep the process alive while idle (unref), but do while they hold a
 * job, so a CLI awaiting a hash is not cut short. A worker that dies fails the job it held and is
 * replaced by the next job that needs one; the job is not retried, since a job that killed one
 * worker may kill the next.
 *
 * Why a bound instead of an unbounded queue: under a login flood the queue's length is the wait of
 * every sign-in behind it. Past the bound a caller gets `503 overloaded` with Retry-After at once
 * (and a client or load balancer can back off or go elsewhere), instead of an ever longer wait that
 * ends in client timeouts after the work was spent anyway.
 */
export class LowPriorityPool {
  readonly #options: PoolOptions;
  readonly #slots = new Set<Slot>();
  readonly #queue: Job[] = [];
  #nextId = 0;
  #closed = false;

  constructor(options: PoolOptions) {
    if (!(options.size >= 1)) throw new RangeError('A pool needs at least one worker');
    this.#options = options;
  }

  get size(): number {
    return this.#options.size;
  }

  /** Workers alive now (started on demand, so 0 before the first job and after close). */
  get threads(): number {
    return this.#slots.size;
  }

  /** Jobs waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /** @throws OverloadedError when every worker is busy and the queue is full */
  run(task: unknown): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error('The password hashing pool is closed'));
    return new Promise((resolve, reject) => {
      const job: Job = { id: this.#nextId++, task, resolve, reject };
      const slot = this.#idleSlot() ?? this.#spawn();
      if (slot) this.#assign(slot, job);
      else if (this.#queue.length < this.#options.maxQueued) this.#queue.push(job);
      else reject(new OverloadedError());
    });
  }

  /** Fails the queued jobs and the running ones, and stops every worker. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const closed = new Error('The password hashing pool is closed');
    for (const job of this.#queue.splice(0)) job.reject(closed);
    await Promise.all([...this.#slots].map((slot) => slot.worker.terminate()));
  }

  #idleSlot(): Slot | undefined {
    for (const slot of this.#slots) if (!slot.job) return slot;
    return undefined;
  }

  #spawn(): Slot | undefined {
    if (this.#slots.size >= this.#options.size) return undefined;
    const worker = new Worker(PRELUDE + this.#options.handler, {
      eval: true,
      // Not the parent's flags: a loader such as tsx is not needed for plain JavaScript, and would
      // cost every worker its start-up time and memory.
      execArgv: [],
    });
    const slot: Slot = { worker, job: undefined };
    this.#slots.add(slot);
    worker.on('message', (reply: { id: number; ok: boolean; value?: unknown; message?: string }) => {
      const job = slot.job;
      if (!job || job.id !== reply.id) return;
      slot.job = undefined;
      if (reply.ok) job.resolve(reply.value);
      else job.reject(new Error(reply.message));
      this.#next(slot);
    });
    // An uncaught error ends the worker; 'exit' follows and does the clean-up.
    worker.on('error', (error) => {
      slot.error = error;
    });
    worker.on('exit', (code) => {
      this.#slots.delete(slot);
      const cause = slot.error instanceof Error ? `: ${slot.error.message}` : '';
      slot.job?.reject(new Error(`A password hashing worker stopped (exit code ${code})${cause}`));
      slot.job = undefined;
      if (this.#closed) return;
      // Replace it for the jobs still waiting.
      const replacement = this.#queue.length ? this.#spawn() : undefined;
      if (replacement) this.#next(replacement);
    });
    return slot;
  }

  #assign(slot: Slot, job: Job): void {
    slot.job = job;
    slot.worker.ref();
    slot.worker.postMessage({ id: job.id, task: job.task });
  }

  #next(slot: Slot): void {
    const job = this.#closed ? undefined : this.#queue.shift();
    if (job) this.#assign(slot, job);
    else slot.worker.unref();
  }
}
