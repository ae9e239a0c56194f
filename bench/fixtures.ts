/**
 * What the scenarios need, made before any server starts (the embedded database is
 * single-process): an owner with a tenant of MEMBERS members and a read API key in it, made
 * through the app itself, with the members bulk-inserted by the seeding code. On the scale data
 * the tenant is seed:scale's big one and the owner its seeded owner; nothing is added to it, so
 * the database stays the size it was seeded at.
 */

import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { type Database, openDatabase, queryRows } from '../src/platform/db.js';
import { migrate } from '../src/platform/migrate.js';
import { SEED_PASSWORD, scaleUserEmail, seedMembers, seedScale } from './seed.js';

export const MEMBERS = 10_000;
export const PASSWORD = 'bench-password-123';

export interface Fixtures {
  email: string;
  password: string;
  tenantId: string;
  apiKey: string;
  /** Cursor of the members list's last page of 20, for the depth scenario. */
  lastPageCursor: string;
}

export interface Where {
  databaseUrl: string | undefined;
  dataDir: string;
  env: Record<string, string>;
}

export async function makeFixtures(
  where: Where,
  scale?: { users: number; tenants: number },
): Promise<Fixtures> {
  const database = await openDatabase({ databaseUrl: where.databaseUrl, dataDir: where.dataDir });
  await migrate(database.db);
  const config = loadConfig({ ...where.env, LOG_LEVEL: 'silent' });
  const app = await buildApp({ config, database });
  try {
    // On the scale data the big tenant's owner is seeded user 1, with the seeded password.
    const { email, password } = scale
      ? { email: scaleUserEmail(1), password: SEED_PASSWORD }
      : { email: `owner-${Date.now()}@bench.test`, password: PASSWORD };
    const bigTenantId = scale
      ? (await seedScale(database, { ...scale, onProgress: progress('scale') })).bigTenantId
      : undefined;
    if (!scale) await call(app, 'POST', '/v1/auth/register', undefined, { email, password });
    const login = await call(app, 'POST', '/v1/auth/login', undefined, { email, password });
    const jwt = login.accessToken as string;
    const tenantId =
      bigTenantId ?? ((await call(app, 'POST', '/v1/tenants', jwt, { name: 'Bench' })).id as string);
    if (!scale) await seedMembers(database, tenantId, MEMBERS, { onProgress: progress('members') });
    const issued = await call(app, 'POST', `/v1/tenants/${tenantId}/api-keys`, jwt, {
      name: 'bench',
      scope: 'read',
    });
    const lastPageCursor = await lastPage(database, tenantId);
    return { email, password, tenantId, apiKey: issued.key as string, lastPageCursor };
  } finally {
    await app.close();
    await database.close();
  }
}

async function call(
  app: FastifyInstance,
  method: 'POST' | 'GET',
  url: string,
  token: string | undefined,
  payload?: unknown,
): Promise<Record<string, unknown>> {
  const response = await app.inject({
    method,
    url,
    ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
  if (response.statusCode >= 300)
    throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
  return response.json() as Record<string, unknown>;
}

/** The members list runs newest first; the last page of 20 starts after the 21st-oldest row. */
async function lastPage(database: Database, tenantId: string): Promise<string> {
  const rows = await queryRows<{ id: string }>(
    database.db,
    sql`SELECT id FROM memberships WHERE tenant_id = ${tenantId} ORDER BY id ASC OFFSET 20 LIMIT 1`,
  );
  const id = rows[0]?.id;
  if (!id) throw new Error('the bench tenant has too few members for a last page');
  return Buffer.from(`v1:${id}`).toString('base64url');
}

function progress(label: string) {
  let shown = -1;
  return (...args: unknown[]) => {
    const [done, total] = args.slice(-2) as [number, number];
    const percent = Math.floor((done / total) * 100);
    if (percent !== shown && percent % 10 === 0) {
      shown = percent;
      process.stderr.write(
        `  seeding ${label}${typeof args[0] === 'string' ? ` ${args[0]}` : ''}: ${percent}%\n`,
      );
    }
  };
}

/** Signs the fixtures' owner in over HTTP, as a client would: the tokens the scenarios send. */
export async function loginFor(
  url: string,
  f: Fixtures,
): Promise<{ accessToken: string; refreshToken: string }> {
  const response = await fetch(`${url}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: f.email, password: f.password }),
  });
  if (!response.ok) throw new Error(`login failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as { accessToken: string; refreshToken: string };
}
