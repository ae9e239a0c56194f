/**
 * What the scenarios need, made before any server starts (the embedded database is
 * single-process): an owner with a tenant of MEMBERS members and a read API key in it, made
 * through the app itself, with the members bulk-inserted by the seeding code.
 */

import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { uuidv7 } from '../src/domain/ids.js';
import { type Database, openDatabase, queryRows } from '../src/platform/db.js';
import { migrate } from '../src/platform/migrate.js';
import { seedMembers, seedScale } from './seed.js';

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
    const email = `owner-${Date.now()}@bench.test`;
    const owner = await call(app, 'POST', '/v1/auth/register', undefined, { email, password: PASSWORD });
    const jwt = owner.accessToken as string;
    let tenantId: string;
    if (scale) {
      const { bigTenantId } = await seedScale(database, {
        ...scale,
        onProgress: progress('scale'),
      });
      tenantId = bigTenantId;
      await makeOwner(database, tenantId, (owner.user as { id: string }).id);
    } else {
      tenantId = (await call(app, 'POST', '/v1/tenants', jwt, { name: 'Bench' })).id as string;
      await seedMembers(database, tenantId, MEMBERS, { onProgress: progress('members') });
    }
    const issued = await call(app, 'POST', `/v1/tenants/${tenantId}/api-keys`, jwt, {
      name: 'bench',
      scope: 'read',
    });
    const lastPageCursor = await lastPage(database, tenantId);
    return { email, password: PASSWORD, tenantId, apiKey: issued.key as string, lastPageCursor };
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

/** The bench owner joins the seeded big tenant as an owner, as an invitation would make them. */
async function makeOwner(database: Database, tenantId: string, userId: string): Promise<void> {
  await queryRows(
    database.db,
    sql`WITH m AS (
          INSERT INTO memberships (tenant_id, id, user_id) VALUES (${tenantId}, ${uuidv7()}, ${userId})
          RETURNING tenant_id, user_id)
        INSERT INTO member_roles (tenant_id, user_id, role_id)
        SELECT m.tenant_id, m.user_id, r.id FROM m
        JOIN roles r ON r.tenant_id = m.tenant_id AND r.built_in = 'owner'`,
  );
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
