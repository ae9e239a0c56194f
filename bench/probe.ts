/**
 * What the cost probes share: a fresh database of the PostgreSQL server at DATABASE_URL with the
 * benchmark's fixtures (scratchFixtures, which alloc-cost.ts uses alone) and, for login-cost.ts and
 * read-cost.ts, one worker of the service on core 0, started as `npm start` starts it, while this
 * process (the load generator) and PostgreSQL's backends for the service go to core 1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { holdCpusAwake } from './cpu-idle.js';
import { type Fixtures, makeFixtures } from './fixtures.js';
import { freePort, pinSelf, type Server, startServer } from './processes.js';
import { dropDatabase, ensureDatabase, pinBackends } from './scratch-database.js';
import { serviceCommand, serviceEnv } from './service-env.js';

export const [SERVER_CORE, LOAD_CORE] = ['0', '1'];

export interface Probe {
  fixtures: Fixtures;
  server: Server;
  /** The probe's own database, which the service runs on. */
  databaseUrl: string;
  /** The service's process id, which is also its event loop's thread id. */
  pid: number;
  /** Moves the service's PostgreSQL backends to the load generator's core (they start on demand). */
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

export async function startProbe(database: string, nodeArgs: string[] = []): Promise<Probe> {
  const { fixtures, databaseUrl, env, drop } = await scratchFixtures(database);
  console.log(holdCpusAwake());
  pinSelf(LOAD_CORE);
  const port = await freePort();
  const server = await startServer({
    command: serviceCommand(nodeArgs),
    env: { ...env, WEB_CONCURRENCY: '1', PUBLIC_URL: `http://127.0.0.1:${port}` },
    cores: SERVER_CORE,
    port,
    readyPath: '/health/ready',
    workers: 1,
  });
  return {
    fixtures,
    server,
    databaseUrl,
    pid: server.child.pid as number,
    async pinDatabase() {
      await pinBackends(databaseUrl, LOAD_CORE);
    },
    async stop() {
      await server.stop();
      await drop();
    },
  };
}
