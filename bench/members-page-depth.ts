/**
 * A members page costs the same deep in a 1,000,000-member tenant as at its start (keyset on
 * the (tenant_id, id) primary key, no OFFSET). Seeds a throwaway database on a PostgreSQL server
 * (bench/seed.ts seedMembers), then times MemberService.list at the first page and near the end.
 * Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/members-page-depth.ts`
 * (MEMBERS to change the size). The database is dropped afterwards.
 */
import { performance } from 'node:perf_hooks';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { systemClock } from '../src/domain/clock.js';
import { AuditService } from '../src/modules/audit/audit.service.js';
import { PermissionResolver } from '../src/modules/authz/permission-resolver.js';
import { MemberService } from '../src/modules/members/members.service.js';
import { RoleNames } from '../src/modules/roles/role-names.js';
import { insertBuiltInRoles, insertTenantUnlessSlugTaken } from '../src/modules/tenants/tenants.repo.js';
import { openDatabase, queryRows } from '../src/platform/db.js';
import { migrate } from '../src/platform/migrate.js';
import { encodeCursor } from '../src/platform/pagination.js';
import { seedMembers } from './seed.js';

const serverUrl = process.env.DATABASE_URL;
if (!serverUrl) throw new Error('Set DATABASE_URL to a PostgreSQL server');
const MEMBERS = Number(process.env.MEMBERS ?? 1_000_000);
const name = `tessera_bench_${process.pid}`;
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
await admin.unsafe(`create database ${name}`);
const url = new URL(serverUrl);
url.pathname = `/${name}`;
const database = await openDatabase({ databaseUrl: url.toString() });

try {
  await migrate(database.db);
  const { db } = database;
  const seedStart = performance.now();
  const tenant = await insertTenantUnlessSlugTaken(db, { name: 'Big', slug: 'big' });
  await insertBuiltInRoles(db, tenant!.id, new Date());
  await seedMembers(database, tenant!.id, MEMBERS);
  console.log(`seeded ${MEMBERS} members in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

  const members = new MemberService(
    db,
    new PermissionResolver(db),
    systemClock,
    new AuditService(db, systemClock, { retentionDays: undefined }),
    new RoleNames(db),
  );
  const tenantId = tenant!.id;
  // The cursor of the member 20 rows before the oldest: the last page of the list.
  const [deep] = await queryRows<{ id: string }>(
    db,
    sql`select id from memberships order by id asc offset 20 limit 1`,
  );
  const time = async (label: string, cursor: string | undefined) => {
    for (let i = 0; i < 20; i++) await members.list(tenantId, { limit: 20, cursor });
    const runs = 200;
    const start = performance.now();
    for (let i = 0; i < runs; i++) await members.list(tenantId, { limit: 20, cursor });
    console.log(`${label.padEnd(34)} ${((performance.now() - start) / runs).toFixed(2)} ms/page`);
  };
  await time('first page (20 newest)', undefined);
  await time(`page at row ${MEMBERS - 20}`, encodeCursor(deep!.id));
} finally {
  await database.close();
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.end();
}
