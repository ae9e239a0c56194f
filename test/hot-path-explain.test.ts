import type { PGlite } from '@electric-sql/pglite';
import { eq, type Logger, sql } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SEED_PASSWORD, scaleUserEmail, seedScale } from '../bench/seed.js';
import * as schema from '../src/db/schema/index.js';
import { type Database, type Db, openDatabase } from '../src/platform/db.js';
import { createTestApp, request, type TestApp } from './app.js';
import { openTestDatabase } from './database.js';

/**
 * Every statement the hot paths run (sign-in, refresh, a JWT request, a permission check, an API-key
 * read, members pages) is recorded as the app sends it, then EXPLAINed with its own parameters on a
 * seeded database with sequential scans priced out. A Seq Scan still in a plan means the planner
 * had no index to use for it; an index that only narrows to a whole tenant or log, with a sort on
 * top, is as bad. At a million rows either reads the lot, on every request.
 */

/** Tables that stay a handful of rows by design, where a sequential scan is the right plan. */
const SMALL_TABLES = new Set(['permissions', 'signing_keys']);

interface Statement {
  query: string;
  params: unknown[];
}

/** The test database with a drizzle instance that records every statement into `log`. */
function recording(base: Database, log: Statement[]): Database {
  const logger: Logger = { logQuery: (query, params) => log.push({ query, params }) };
  const client = (base.db as unknown as { $client: unknown }).$client;
  const db =
    base.kind === 'embedded'
      ? drizzlePglite(client as PGlite, { schema, logger })
      : drizzlePostgres(client as postgres.Sql, { schema, logger });
  return { ...base, db: db as unknown as Db };
}

/** A SQL literal of a recorded parameter, for EXECUTE (which takes no bound parameters). */
function literal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  const text =
    value instanceof Date
      ? value.toISOString()
      : typeof value === 'object'
        ? JSON.stringify(value)
        : String(value);
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * What is wrong with each statement's plan, looked at with enable_seqscan off: the plan made for the
 * statement's parameters, which PGlite runs and whose row estimates see the big tenant as big. On
 * the server the app prepares its statements and PostgreSQL runs their generic plan (see
 * src/platform/db.ts), so that plan is looked at too: a connection opened as the app opens its own
 * runs each statement as the app does (writes inside a transaction rolled back at the end), then
 * EXPLAINs the prepared statement.
 */
async function explainer(base: Database) {
  if (base.kind === 'embedded') {
    const pglite = (base.db as unknown as { $client: PGlite }).$client;
    await pglite.exec('set enable_seqscan = off');
    return {
      check: async (s: Statement) =>
        problems(
          (await pglite.query<Record<string, unknown>>(`explain (format json) ${s.query}`, s.params))
            .rows[0]!['QUERY PLAN'],
        ),
      release: () => pglite.exec('reset enable_seqscan'),
    };
  }
  const url = new URL(inject('templateDatabaseUrl'));
  url.pathname = `/${(base.db as unknown as { $client: postgres.Sql }).$client.options.database}`;
  const own = await openDatabase({ databaseUrl: url.toString(), maxConnections: 1 });
  const sql = (own.db as unknown as { $client: postgres.Sql }).$client;
  await sql.unsafe('set enable_seqscan = off');
  await sql.unsafe('begin');
  return {
    check: async (s: Statement) => {
      const found = problems(
        (
          await sql.unsafe<Record<string, unknown>[]>(`explain (format json) ${s.query}`, s.params as never[])
        )[0]!['QUERY PLAN'],
      );
      await sql.unsafe('savepoint run');
      await sql.unsafe(s.query, s.params as never[]);
      await sql.unsafe('rollback to savepoint run');
      const [prepared] = await sql.unsafe<{ name: string; types: string[]; generic_plans: string }[]>(
        'select name, parameter_types::text[] as types, generic_plans from pg_prepared_statements where statement = $1',
        [s.query],
      );
      if (!prepared) return [...found, 'not prepared'];
      const args = prepared.types.map((type, i) => `${literal(s.params[i])}::${type}`).join(', ');
      const [row] = await sql.unsafe<Record<string, unknown>[]>(
        `explain (format json) execute "${prepared.name}"${args ? `(${args})` : ''}`,
      );
      found.push(...problems(row!['QUERY PLAN']).map((problem) => `${problem} (generic plan)`));
      // Planned for its parameters instead: planned again on every execution.
      if (Number(prepared.generic_plans) === 0) found.push('no generic plan');
      return found;
    },
    release: async () => {
      await sql.unsafe('rollback');
      await own.close();
    },
  };
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Plan Rows': number;
  Plans?: PlanNode[];
}

/**
 * Every statement of these flows touches a few rows: one user, one session, one page. More than this
 * (estimated, after ANALYZE) read before the first row can come out is a whole tenant or table.
 * The seed is sized above it: 2,000 members in the big tenant, 20,000 entries in the platform log.
 */
const MAX_ROWS = 500;

/** Nodes that consume all their input before answering, so a LIMIT above them does not stop them. */
const BLOCKING = new Set(['Sort', 'Incremental Sort', 'Hash', 'Aggregate', 'Materialize']);

/**
 * What is wrong with a plan: sequential scans of tables that grow, and reads of more than MAX_ROWS
 * rows that no LIMIT cuts short (a bitmap scan, a sort or hash over them, or an index scan not under
 * a LIMIT). An index scan under a LIMIT stops after the rows it needs, however many match.
 */
function problems(plan: unknown): string[] {
  const parsed = (typeof plan === 'string' ? JSON.parse(plan) : plan) as Array<{ Plan: PlanNode }>;
  const found: string[] = [];
  const walk = (node: PlanNode, underLimit: boolean) => {
    const type = node['Node Type'];
    const table = node['Relation Name'];
    if (type === 'Seq Scan' && table && !SMALL_TABLES.has(table)) found.push(`Seq Scan on ${table}`);
    const input = BLOCKING.has(type)
      ? (node.Plans ?? []).reduce((sum, child) => sum + child['Plan Rows'], 0)
      : 0;
    if (input > MAX_ROWS) found.push(`${type} over ~${input} rows`);
    const scanned =
      type === 'Bitmap Heap Scan' || (!underLimit && (type === 'Index Scan' || type === 'Index Only Scan'));
    if (scanned && table && node['Plan Rows'] > MAX_ROWS)
      found.push(`${type} of ~${node['Plan Rows']} rows of ${table}`);
    for (const child of node.Plans ?? []) walk(child, underLimit || type === 'Limit');
  };
  walk(parsed[0]!.Plan, false);
  return found;
}

/** Statements that can read a table: inserts with VALUES read none, even several in one statement. */
const reads = (s: Statement) => /\b(select|update|delete)\b/i.test(s.query);

const log: Statement[] = [];
const flows = new Map<string, Statement[]>();
let base: Database;
let t: TestApp;
let bigTenantId: string;

/** Runs a flow and keeps the statements it sent. */
async function flow(name: string, run: () => Promise<void>): Promise<void> {
  log.length = 0;
  await run();
  flows.set(name, [...log]);
}

async function login(email: string): Promise<{ accessToken: string; refreshToken: string }> {
  const response = await request(t.app, 'POST', '/v1/auth/login', {
    body: { email, password: SEED_PASSWORD },
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as { accessToken: string; refreshToken: string };
}

beforeAll(async () => {
  base = await openTestDatabase();
  const database = recording(base, log);
  t = await createTestApp({ database });
  ({ bigTenantId } = await seedScale(database, { users: 2000, tenants: 40 }));
  // A log with history, every sign-in appends to it: 20,000 platform entries and 20,000 of the big
  // tenant. Their hashes chain nothing; only the plans are looked at here.
  await base.db.execute(sql`
    insert into audit_log (id, tenant_id, seq, occurred_at, actor_type, action, metadata, prev_hash, hash)
    select gen_random_uuid(), case when n % 2 = 0 then null else ${bigTenantId}::uuid end, (n + 1) / 2,
           now(), 'system', 'user.login', '{}', 'not-a-hash', 'not-a-hash'
    from generate_series(1, 40000) n`);
  await base.db.execute(sql`analyze audit_log`);

  // The owner of the big tenant makes an API key: not a hot path, so before recording starts.
  const owner = await login(scaleUserEmail(1));
  const issued = await request(t.app, 'POST', `/v1/tenants/${bigTenantId}/api-keys`, {
    token: owner.accessToken,
    body: { name: 'Reader', scope: 'read' },
  });
  expect(issued.statusCode, issued.body).toBe(201);
  const apiKey = (issued.json() as { key: string }).key;

  // A member of the big tenant (and of one small one), by every hot path.
  const email = scaleUserEmail(1234);
  let tokens = { accessToken: '', refreshToken: '' };
  const expectStatus = async (response: Promise<{ statusCode: number; body: string }>, status = 200) => {
    const r = await response;
    expect(r.statusCode, r.body).toBe(status);
    return r;
  };
  await flow('login', async () => {
    tokens = await login(email);
  });
  await flow('refresh', async () => {
    const r = await expectStatus(
      request(t.app, 'POST', '/v1/auth/refresh', { body: { refreshToken: tokens.refreshToken } }),
    );
    tokens = JSON.parse(r.body) as typeof tokens;
  });
  await flow('GET /v1/users/me (JWT)', async () => {
    // Warm, /me costs no query; the cold read that fills the session cache is the one to check.
    t.app.container.sessionCache.clear();
    await expectStatus(request(t.app, 'GET', '/v1/users/me', { token: tokens.accessToken }));
  });
  await flow('POST /v1/authz/check (self)', async () => {
    await expectStatus(
      request(t.app, 'POST', '/v1/authz/check', {
        token: tokens.accessToken,
        body: { tenantId: bigTenantId, permission: 'members:read' },
      }),
    );
  });
  const [other] = await base.db
    .select({ id: schema.users.id })
    .from(schema.users)
    .where(eq(schema.users.email, scaleUserEmail(77)));
  await flow('POST /v1/authz/check (another user)', async () => {
    await expectStatus(
      request(t.app, 'POST', '/v1/authz/check', {
        token: tokens.accessToken,
        body: { tenantId: bigTenantId, permission: 'members:read', userId: other!.id },
      }),
    );
  });
  let cursor = '';
  await flow('GET members page 1', async () => {
    const r = await expectStatus(
      request(t.app, 'GET', `/v1/tenants/${bigTenantId}/members?limit=20`, { token: tokens.accessToken }),
    );
    cursor = (JSON.parse(r.body) as { nextCursor: string }).nextCursor;
  });
  await flow('GET members page after a cursor', async () => {
    await expectStatus(
      request(
        t.app,
        'GET',
        `/v1/tenants/${bigTenantId}/members?limit=20&cursor=${encodeURIComponent(cursor)}`,
        {
          token: tokens.accessToken,
        },
      ),
    );
  });
  await flow('GET members page with an API key', async () => {
    await expectStatus(
      request(t.app, 'GET', `/v1/tenants/${bigTenantId}/members?limit=20`, {
        headers: { 'x-api-key': apiKey },
      }),
    );
  });
}, 120_000);
afterAll(async () => {
  await t?.close();
  await base?.close();
});

const FLOWS = [
  'login',
  'refresh',
  'GET /v1/users/me (JWT)',
  'POST /v1/authz/check (self)',
  'POST /v1/authz/check (another user)',
  'GET members page 1',
  'GET members page after a cursor',
  'GET members page with an API key',
];

describe('hot-path statements', () => {
  let check: (s: Statement) => Promise<string[]>;
  let release: () => Promise<unknown>;
  beforeAll(async () => {
    ({ check, release } = await explainer(base));
  });
  afterAll(() => release?.());

  it.each(FLOWS)('%s: every statement has an index for its predicate', async (name) => {
    const statements = (flows.get(name) ?? []).filter(reads);
    // A flow that reached the database (its caches were cold for this user, tenant and key).
    expect(statements.length).toBeGreaterThan(0);
    const bad: string[] = [];
    for (const statement of statements) {
      const found = await check(statement);
      if (found.length > 0) bad.push(`${found.join('; ')}\n    in: ${statement.query}`);
    }
    expect(bad).toEqual([]);
  });

  it('notices a statement without a usable index', async () => {
    // The platform log's head, as it was read before audit.repo.ts ordered by (tenant_id, seq):
    // `tenant_id IS NULL` does not fix the column for ordering, so every platform entry was sorted.
    const head = await check({
      query: 'select id, seq, hash from audit_log where tenant_id is null order by seq desc limit 1',
      params: [],
    });
    expect(head.join()).toMatch(/over ~\d+ rows|rows of audit_log|Seq Scan on audit_log/);
    const byName = await check({ query: 'select id from users where name = $1', params: ['Scale User 7'] });
    expect(byName[0]).toBe('Seq Scan on users');
  });
});
