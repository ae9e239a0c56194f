import cluster, { type Worker } from 'node:cluster';
import type { FastifyBaseLogger } from 'fastify';
import { type Config, loadConfig } from './config.js';
import { createContainer } from './container.js';
import { createLogger } from './platform/http/logging.js';
import {
  bootstrapFirstSuperuser,
  type ListeningMessage,
  openMigratedDatabase,
  printBanner,
  SHUTDOWN_GRACE_MS,
  startServer,
} from './server.js';

/** A replacement waits RESTART_BASE_MS, doubled for each worker in a row that died young. */
const RESTART_BASE_MS = 250;
const RESTART_MAX_MS = 30_000;
/** A worker that ran this long before dying was not part of a crash loop. */
const STABLE_AFTER_MS = 10_000;

/**
 * `tessera serve`. With WEB_CONCURRENCY=1 the service runs in this process, as it always has.
 * Above 1 this process becomes the primary of a node:cluster: it prepares the database once, then
 * forks that many workers, each a whole instance of the app listening on the one shared port (the
 * primary accepts connections and hands them out round-robin). Workers keep no state of their own
 * that matters: caches are invalidated across them by LISTEN/NOTIFY, as across hosts.
 */
export async function serve(config: Config = loadConfig()): Promise<void> {
  if (cluster.isWorker) {
    await startServer(config, { worker: true });
  } else if (config.webConcurrency > 1) {
    await startPrimary(config);
  } else {
    await startServer(config);
  }
}

/** Migrates and bootstraps once for the deployment (never once per worker), then forks the workers. */
async function startPrimary(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  for (const warning of config.warnings) log.warn(warning);
  if (!config.redisUrl) {
    log.warn(
      { workers: config.webConcurrency },
      'REDIS_URL is unset: each worker keeps its own per-address rate limits and sign-in failure counts, so a client may get up to WEB_CONCURRENCY times each limit',
    );
  }
  const database = await openMigratedDatabase(config);
  try {
    // The container also creates the first signing key, so workers starting together find it made.
    const container = await createContainer({ config, database });
    try {
      await bootstrapFirstSuperuser(config, container.users, log);
    } finally {
      await container.close();
    }
  } finally {
    await database.close();
  }
  new Supervisor(config, log).start();
}

function isListeningMessage(message: unknown): message is ListeningMessage {
  return (message as ListeningMessage | null)?.tessera === 'listening';
}

/**
 * Keeps WEB_CONCURRENCY workers running. Start-up is all or nothing: a worker that dies before
 * every first worker listens stops the service (exit 1), as a single process that failed to start
 * would. Afterwards a worker that dies is replaced, after a delay that grows while replacements keep
 * dying young. SIGTERM/SIGINT reach every worker, which finishes its requests in flight; one still
 * running after SHUTDOWN_GRACE_MS is killed.
 */
class Supervisor {
  readonly #workers = new Map<number, { worker: Worker; forkedAt: number }>();
  readonly #listening = new Set<number>();
  readonly #restarts = new Set<NodeJS.Timeout>();
  #up = false;
  #diedYoung = 0;
  #stopping = false;
  #exitCode = 0;

  constructor(
    private readonly config: Config,
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    cluster.on('exit', (worker, code, signal) => this.#exited(worker, code, signal));
    process.once('SIGTERM', () => this.stop('SIGTERM'));
    process.once('SIGINT', () => this.stop('SIGINT'));
    this.log.info({ workers: this.config.webConcurrency }, 'starting workers');
    for (let i = 0; i < this.config.webConcurrency; i++) this.#fork();
  }

  stop(reason: string): void {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const timer of this.#restarts) clearTimeout(timer);
    this.#restarts.clear();
    this.log.info({ reason, workers: this.#workers.size }, 'shutting down');
    // From a terminal, Ctrl+C has signalled the workers already; a second SIGTERM does no harm.
    for (const { worker } of this.#workers.values()) worker.process.kill('SIGTERM');
    setTimeout(() => {
      for (const { worker } of this.#workers.values()) {
        this.log.error({ workerPid: worker.process.pid }, 'worker did not stop in time; killing it');
        worker.process.kill('SIGKILL');
      }
    }, SHUTDOWN_GRACE_MS).unref();
    this.#exitWhenAllGone();
  }

  #fork(): void {
    const worker = cluster.fork();
    this.#workers.set(worker.id, { worker, forkedAt: Date.now() });
    worker.on('message', (message: unknown) => {
      if (isListeningMessage(message)) this.#listened(worker, message.address);
    });
  }

  #listened(worker: Worker, address: string): void {
    this.#listening.add(worker.id);
    this.log.info({ worker: worker.id, workerPid: worker.process.pid, address }, 'worker listening');
    if (!this.#up && this.#listening.size === this.config.webConcurrency) {
      this.#up = true;
      printBanner(this.config, address, this.config.webConcurrency);
    }
  }

  #exited(worker: Worker, code: number | null, signal: string | null): void {
    const entry = this.#workers.get(worker.id);
    this.#workers.delete(worker.id);
    this.#listening.delete(worker.id);
    const details = { worker: worker.id, workerPid: worker.process.pid, exitCode: code, signal };
    if (this.#stopping) {
      // Killed by the signal it was sent while still starting (before it handles signals) is clean
      // too: it was serving nothing. Killed at the deadline, or failing its own shutdown, is not.
      if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGINT') this.#exitCode = 1;
      this.#exitWhenAllGone();
      return;
    }
    if (!this.#up) {
      this.log.error(details, 'a worker failed to start');
      this.#exitCode = 1;
      this.stop('worker failed to start');
      return;
    }
    const lived = Date.now() - (entry?.forkedAt ?? 0);
    this.#diedYoung = lived < STABLE_AFTER_MS ? this.#diedYoung + 1 : 0;
    const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** this.#diedYoung);
    this.log.error({ ...details, replaceInMs: delay }, 'worker died; replacing it');
    const timer = setTimeout(() => {
      this.#restarts.delete(timer);
      this.#fork();
    }, delay);
    this.#restarts.add(timer);
  }

  #exitWhenAllGone(): void {
    if (this.#workers.size > 0) return;
    this.log.info({ exitCode: this.#exitCode }, 'all workers stopped');
    process.exit(this.#exitCode);
  }
}
