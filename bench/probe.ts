/**
 * What the cost probes share: a fresh database of the PostgreSQL server at DATABASE_URL with the
 * benchmark's fixtures (scratchFixtures, which alloc-cost.ts uses alone) and, for login-cost.ts and
 * read-cost.ts, the service started as `npm start` starts it and placed as `npm run bench` places
 * it: one worker on core 0, while this process (the load generator) and PostgreSQL's backends for
 * the service go to core 1; two workers on cores 0-1, sharing core 1 with the load generator, and
 * PostgreSQL where the scheduler puts it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { holdCpusAwake } from './cpu-idle.js';
import { type Fixtures, makeFixtures } from './fixtures.js';
import { freePort, type Placement, pinSelf, placement, type Server, startServer } from './processes.js';
import { dropDatabase, ensureDatabase, pinBackends } from './scratch-database.js';
import { serviceCommand, serviceEnv } from './service-env.js';

export interface Probe {
  fixtures: Fixtures;
  server: Server;
  /** The probe's own database, which the service runs on. */
  databaseUrl: string;
  /** Where the service and the load generator run. */
  place: Placement & { serverCores: string; loadCores: string };
  /** The process ids of the service's workers, each also its event loop's thread id. */
  pids: number[];
  /**
   * With one worker, moves the service's PostgreSQL backends to the load generator's core (they
   * start on demand); with a worker on every core there is no core to keep them off.
   */
  pinDatabase(): Promise<void>;
  stop(): Promise<void>;
}

/** A fresh database of the PostgreSQL server at DATABASE_URL, seeded with the benchmark's fixtures. */
export interface ScratchFixtures {
  fixtures: Fixtures;
  databaseUrl: string;
  /** The service's environment for that database (production configuration, limits off). */
  env: Record<string, string>;
  /** Drops the database and its data directory. */
  drop(): Promise<void>;
}

export async function scratchFixtures(database: string): Promise<ScratchFixtures> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) throw new Error('Set DATABASE_URL to a PostgreSQL server on this machine');
  const databaseUrl = await ensureDatabase(serverUrl, database, { fresh: true });
  const dataDir = mkdtempSync(join(tmpdir(), `${database}-`));
  const env = { ...serviceEnv(), DATA_DIR: dataDir, DATABASE_URL: databaseUrl };
  const fixtures = await makeFixtures({ databaseUrl, dataDir, env });
  return {
    fixtures,
    databaseUrl,
    env,
    async drop() {
      await dropDatabase(serverUrl, database);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function startProbe(database: string, nodeArgs: string[] = [], workers = 1): Promise<Probe> {
  const { serverCores, loadCores, ...rest } = placement(workers);
  if (!serverCores || !loadCores) throw new Error('The cost probes need taskset and two or more cores');
  const place = { serverCores, loadCores, ...rest };
  const { fixtures, databaseUrl, env, drop } = await scratchFixtures(database);
  console.log(holdCpusAwake());
  pinSelf(loadCores);
  const port = await freePort();
  const server = await startServer({
    command: serviceCommand(nodeArgs),
    env: { ...env, WEB_CONCURRENCY: String(workers), PUBLIC_URL: `http://127.0.0.1:${port}` },
    cores: serverCores,
    port,
    readyPath: '/health/ready',
    workers,
  });
  return {
    fixtures,
    server,
    databaseUrl,
    place,
    pids: server.servingPids(),
    async pinDatabase() {
      if (place.loadAlone) await pinBackends(databaseUrl, loadCores);
    },
    async stop() {
      await server.stop();
      await drop();
    },
  };
}
