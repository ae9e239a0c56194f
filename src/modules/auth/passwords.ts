import { availableParallelism } from 'node:os';
import { normalizePassword } from '../../domain/password-policy.js';
import { randomToken } from '../../domain/secrets.js';
import { LowPriorityPool } from './password-pool.js';

export interface Argon2Cost {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** @node-rs/argon2's Algorithm.Argon2id (a const enum, which isolated modules cannot import). */
const ARGON2ID = 2;

/** OWASP Password Storage Cheat Sheet, Argon2id: m=19 MiB, t=2, p=1. */
export const OWASP_ARGON2: Argon2Cost = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

/**
 * At most this many hashing threads, whatever the machine: each running hash holds `memoryCost`
 * (19 MiB at the OWASP cost) plus a worker's own heap, and one process rarely owns more cores.
 */
const MAX_POOL_SIZE = 8;

/**
 * Jobs that may wait per worker before a caller is refused with 503 overloaded. At the OWASP cost
 * one free core hashes about 100 passwords a second (10 ms each; `bench/hash-rate.ts`), less when the
 * event loop is busy, so a full queue is a wait of one to a few seconds: past that a client is better
 * told to come back than left waiting for an answer it may time out on.
 */
const MAX_QUEUED_PER_WORKER = 128;

/**
 * One hashing thread per core this process may run on (`availableParallelism` honours taskset),
 * shared among the service's `workers` processes: more Argon2 threads than cores only take turns,
 * each evicting the other's memory (2 workers of 2 threads each on 2 cores signed in 129 a second,
 * of 1 thread each 140).
 */
export function defaultPoolSize(workers = 1): number {
  const cores = Math.min(availableParallelism(), MAX_POOL_SIZE);
  return Math.max(1, Math.round(cores / Math.max(1, workers)));
}

/**
 * The code each worker runs: a string evaluated with `eval: true`, so it is the same under
 * tsx/vitest (TypeScript sources) and from the compiled dist/, where a .js file beside the source
 * would need the build to copy it. The sync calls block only the worker's thread. A hash that cannot
 * be parsed answers false, as a wrong password does.
 */
const ARGON2_HANDLER = `
const argon2 = load('@node-rs/argon2');
function handle(task) {
  if (task.op === 'hash') return argon2.hashSync(task.password, task.options);
  try {
    return argon2.verifySync(task.hash, task.password);
  } catch {
    return false;
  }
}
`;

export interface PasswordHasherOptions {
  /** Jobs that may wait per worker before OverloadedError; MAX_QUEUED_PER_WORKER by default. */
  maxQueuedPerWorker?: number;
}

/**
 * Argon2id in a pool of worker threads at the lowest CPU priority (see password-pool.ts), never on
 * the event loop nor on libuv's thread pool: on a core shared with the event loop, a login flood
 * then spends only the CPU the loop leaves idle, and every other request keeps its latency. When all
 * workers are busy and the queue is full, hash and verify throw OverloadedError (503, Retry-After).
 * `close()` stops the workers.
 */
export class PasswordHasher {
  readonly #pool: LowPriorityPool;
  readonly #options: Argon2Cost & { algorithm: number };
  #decoy: Promise<string> | undefined;

  constructor(
    cost: Argon2Cost = OWASP_ARGON2,
    concurrency = defaultPoolSize(),
    options: PasswordHasherOptions = {},
  ) {
    this.#options = { algorithm: ARGON2ID, ...cost };
    const size = Math.max(1, Math.floor(concurrency));
    this.#pool = new LowPriorityPool({
      handler: ARGON2_HANDLER,
      size,
      maxQueued: size * (options.maxQueuedPerWorker ?? MAX_QUEUED_PER_WORKER),
    });
  }

  /** Hashing threads at most, and alive now. */
  get poolSize(): number {
    return this.#pool.size;
  }

  get threads(): number {
    return this.#pool.threads;
  }

  /** A standard Argon2id PHC string (`$argon2id$v=19$m=...`), salted. @throws OverloadedError */
  async hash(password: string): Promise<string> {
    const task = { op: 'hash', password: normalizePassword(password), options: this.#options };
    return (await this.#pool.run(task)) as string;
  }

  /** False for a wrong password and for a hash that cannot be parsed. @throws OverloadedError */
  async verify(passwordHash: string, password: string): Promise<boolean> {
    const task = { op: 'verify', hash: passwordHash, password: normalizePassword(password) };
    return (await this.#pool.run(task)) === true;
  }

  /**
   * Spends the same work as a real verification, for unknown or deactivated accounts, so response
   * time does not reveal whether an account exists.
   */
  async verifyDecoy(password: string): Promise<false> {
    let decoy = this.#decoy;
    if (!decoy) {
      const made = this.hash(randomToken());
      // A refused or failed decoy hash (overloaded) is made again next time, not cached as failed.
      made.catch(() => {
        if (this.#decoy === made) this.#decoy = undefined;
      });
      this.#decoy = decoy = made;
    }
    await this.verify(await decoy, password);
    return false;
  }

  /** Stops the workers; hashes still queued or running fail. */
  close(): Promise<void> {
    return this.#pool.close();
  }
}
