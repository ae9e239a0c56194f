/**
 * The in-process measurement scripts' shared set-up: the whole app on a fresh embedded database,
 * one signed-up user owning one tenant, and a timer that runs a call N times after a warm-up.
 */
import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { type Database, openDatabase } from '../src/platform/db.js';
import { migrate } from '../src/platform/migrate.js';

export const N = Number(process.env.N ?? 20_000);

export interface BenchApp {
  app: FastifyInstance;
  database: Database;
  userId: string;
  tenantId: string;
  /** The owner's bearer header. */
  jwt: Record<string, string>;
  close(): Promise<void>;
}

export async function startBenchApp(): Promise<BenchApp> {
  const database = await openDatabase({});
  await migrate(database.db);
  const config = loadConfig({
    NODE_ENV: 'test',
    SECRET_KEY: 'bench-secret-key-that-is-long-enough-0123456789',
    LOG_LEVEL: 'silent',
    AUTH_RATE_LIMIT_PER_MINUTE: '0',
  });
  // A cheap Argon2 cost: these scripts time token and permission checks, not password hashing.
  const app = await buildApp({ config, database, argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } });
  const register = await app.inject({
    method: 'POST',
    url: '/v1/auth/register',
    payload: { email: 'bench@example.test', password: 'bench-password-123' },
  });
  const { accessToken, user } = register.json() as { accessToken: string; user: { id: string } };
  const jwt = { authorization: `Bearer ${accessToken}` };
  const tenant = await app.inject({
    method: 'POST',
    url: '/v1/tenants',
    headers: jwt,
    payload: { name: 'Bench' },
  });
  return {
    app,
    database,
    userId: user.id,
    tenantId: (tenant.json() as { id: string }).id,
    jwt,
    async close() {
      await app.close();
      await database.close();
    },
  };
}

/** Runs `run` N times in sequence after 500 warm-up calls; prints and returns µs per call. */
export async function time(label: string, run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 500; i++) await run();
  const start = performance.now();
  for (let i = 0; i < N; i++) await run();
  const micros = ((performance.now() - start) * 1000) / N;
  const perSecond = Math.round(1e6 / micros).toString();
  console.log(`${label.padEnd(52)} ${micros.toFixed(2).padStart(8)} µs/op  ${perSecond.padStart(8)} op/s`);
  return micros;
}
