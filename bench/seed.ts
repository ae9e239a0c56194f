/**
 * Fills a database fast with the rows the app itself would write: users (one shared Argon2id hash),
 * tenants with their built-in roles and an owner, memberships with their role links. Rows are made
 * on the server by `INSERT ... SELECT FROM generate_series`, 50,000 per statement, one transaction
 * per batch, so memory stays flat and progress can be shown; nothing crosses the wire but the SQL.
 *
 * Ids are UUIDv7 shaped (48-bit millisecond prefix, version 7, variant 8) and their time is the
 * row's created_at: members, tenants, users and roles pages are keyset-paginated on the id, newest
 * first, so ids must sort by age as the app's do. The rest of an id is md5(run tag, kind, index),
 * so the id of "user 17 of this run" can be computed again in a later statement without a join.
 *
 * Not written: audit records (`tenant.created`) and permission-change notifications. No instance
 * can hold a cached answer about users and tenants that did not exist yet, so none is needed.
 */
import { randomBytes } from 'node:crypto';
import { and, count, eq, type SQL, sql } from 'drizzle-orm';
import { memberRoles, memberships, roles, tenants, users } from '../src/db/schema/index.js';
import { uuidv7 } from '../src/domain/ids.js';
import { PasswordHasher } from '../src/modules/auth/passwords.js';
import { insertBuiltInRoles, insertTenantUnlessSlugTaken } from '../src/modules/tenants/tenants.repo.js';
import type { Database, Executor } from '../src/platform/db.js';
import { queryRows } from '../src/platform/db.js';

/** The password every seeded user shares (it passes the password policy). */
export const SEED_PASSWORD = 'seeded-violet-otter-harbour-42';

/** The slug of seedScale's tenant that every seeded user belongs to. */
export const BIG_TENANT_SLUG = 'scale-big';

/** Rows per INSERT statement (and per transaction). */
export const BATCH_ROWS = 50_000;

/** The address of seedScale's user `n` (1-based), as stored: lower-cased. */
export function scaleUserEmail(n: number): string {
  return `scale-user-${n}@example.test`;
}

/** seedScale's small tenant `k` (1-based) has this slug; the big one has BIG_TENANT_SLUG. */
export function scaleTenantSlug(k: number): string {
  return `scale-${k}`;
}

export type Progress = (done: number, total: number) => void;
export type StageProgress = (stage: string, done: number, total: number) => void;

/**
 * A UUIDv7 in SQL: the millisecond time `ms` in the first 48 bits, version 7, variant 8, and the
 * rest from md5(`key`), so the same (ms, key) always gives the same id.
 */
function v7(ms: SQL, key: SQL): SQL {
  return sql`overlay(overlay(md5(${key}) placing lpad(to_hex(${ms}), 12, '0') || '7' from 1 for 13)
    placing '8' from 17 for 1)::uuid`;
}

/** The timestamptz of a millisecond time made in SQL. */
function at(ms: SQL): SQL {
  return sql`to_timestamp((${ms})::double precision / 1000)`;
}

/** Calls `run(from, to)` for each batch of 1..total, inclusive, each in its own transaction. */
async function inBatches(
  database: Database,
  total: number,
  run: (tx: Executor, from: number, to: number) => Promise<void>,
  onProgress?: Progress,
): Promise<void> {
  onProgress?.(0, total);
  for (let from = 1; from <= total; from += BATCH_ROWS) {
    const to = Math.min(total, from + BATCH_ROWS - 1);
    await database.db.transaction((tx) => run(tx, from, to));
    onProgress?.(to, total);
  }
}

interface UserBatch {
  /** Distinguishes this run's ids from every other run's. */
  tag: string;
  /** Millisecond time of user 0; user n is created at base + n. */
  base: number;
  email: (n: SQL) => SQL;
  name: (n: SQL) => SQL;
  passwordHash: string;
}

const userMs = (u: UserBatch, n: SQL) => sql`(${u.base}::bigint + ${n})`;
const userId = (u: UserBatch, n: SQL) => v7(userMs(u, n), sql`${u.tag} || ':user:' || ${n}`);

async function insertUsers(tx: Executor, u: UserBatch, from: number, to: number): Promise<void> {
  const n = sql`n`;
  await tx.execute(sql`
    insert into ${users} (id, email, name, password_hash, email_verified, created_at, updated_at)
    select ${userId(u, n)}, ${u.email(n)}, ${u.name(n)}, ${u.passwordHash}, true,
           ${at(userMs(u, n))}, ${at(userMs(u, n))}
    from generate_series(${from}::int, ${to}::int) n`);
}

/**
 * Memberships of rows `from..to` of a pair list, with one role each: `pair` gives, for the index
 * `j`, the user id, tenant id and role id (all SQL over `j`); membership j is created at base + j.
 */
async function insertMemberships(
  tx: Executor,
  m: { tag: string; base: number; pair: (j: SQL) => { userId: SQL; tenantId: SQL; roleId: SQL } },
  from: number,
  to: number,
): Promise<void> {
  const j = sql`j`;
  const pair = m.pair(j);
  const ms = sql`(${m.base}::bigint + ${j})`;
  const rows = sql`from generate_series(${from}::int, ${to}::int) j`;
  await tx.execute(sql`
    insert into ${memberships} (id, tenant_id, user_id, created_at)
    select ${v7(ms, sql`${m.tag} || ':membership:' || ${j}`)}, ${pair.tenantId}, ${pair.userId}, ${at(ms)}
    ${rows}`);
  // The role links come from the same expressions, so they name exactly the memberships just made.
  await tx.execute(sql`
    insert into ${memberRoles} (tenant_id, user_id, role_id)
    select ${pair.tenantId}, ${pair.userId}, ${pair.roleId} ${rows}`);
}

const newTag = () => randomBytes(8).toString('hex');

/** One Argon2id hash at the production cost, so seeded users sign in at the real price. */
function hashOnce(password: string): Promise<string> {
  return new PasswordHasher().hash(password);
}

async function analyze(database: Database): Promise<void> {
  await database.db.execute(sql`analyze users, tenants, roles, memberships, member_roles`);
}

/**
 * Adds `count` new users (emails unique per call, one shared Argon2id hash of `password`) as
 * members of `tenantId` with the built-in member role. onProgress(done, total).
 * @throws Error when the tenant has no built-in member role (no such tenant)
 */
export async function seedMembers(
  database: Database,
  tenantId: string,
  total: number,
  opts: { password?: string; onProgress?: Progress } = {},
): Promise<void> {
  const [role] = await database.db
    .select({ id: roles.id })
    .from(roles)
    .where(and(eq(roles.tenantId, tenantId), eq(roles.builtIn, 'member')));
  if (!role) throw new Error(`Tenant ${tenantId} does not exist (it has no built-in member role)`);
  const tag = newTag();
  const u: UserBatch = {
    tag,
    // Joined over the last `total` milliseconds, user n and their membership at the same instant.
    base: Date.now() - total - 1,
    email: (n) => sql`'member-' || ${tag} || '-' || ${n} || '@example.test'`,
    name: (n) => sql`'Member ' || ${n}`,
    passwordHash: await hashOnce(opts.password ?? SEED_PASSWORD),
  };
  await inBatches(
    database,
    total,
    async (tx, from, to) => {
      await insertUsers(tx, u, from, to);
      await insertMemberships(
        tx,
        {
          tag,
          base: u.base,
          pair: (j) => ({
            userId: userId(u, j),
            tenantId: sql`${tenantId}::uuid`,
            roleId: sql`${role.id}::uuid`,
          }),
        },
        from,
        to,
      );
    },
    opts.onProgress,
  );
  await analyze(database);
}

/**
 * `users` users, `tenants` tenants (each with its built-in roles and an owner) of which one, slug
 * BIG_TENANT_SLUG, has every user as a member (user 1 its owner), and memberships spreading the
 * users over the other tenants (user j in small tenant ((j-1) mod (tenants-1)) + 1, owner of it
 * when j ≤ tenants-1; with fewer users than tenants, users own several). Idempotent-ish: if the
 * big tenant already has `users` members, it returns without seeding.
 * @throws Error when the database holds a different or unfinished scale seed
 */
export async function seedScale(
  database: Database,
  opts: { users: number; tenants: number; onProgress?: StageProgress },
): Promise<{ bigTenantId: string; created: boolean }> {
  const N = opts.users;
  const T = opts.tenants;
  if (!Number.isInteger(N) || N < 1 || !Number.isInteger(T) || T < 1) {
    throw new Error('seedScale needs at least one user and one tenant (whole numbers)');
  }
  const existing = await existingSeed(database);
  if (existing) {
    if (existing.members === N) return { bigTenantId: existing.tenantId, created: false };
    throw new Error(
      `This database already holds a scale seed (tenant ${BIG_TENANT_SLUG} with ${existing.members} members, not ${N}): seed a fresh database`,
    );
  }
  const [partial] = await database.db
    .select({ id: users.id })
    .from(users)
    .where(sql`lower(${users.email}) = ${scaleUserEmail(1)}`);
  if (partial) throw new Error('This database holds an unfinished scale seed: seed a fresh database');

  const progress =
    (stage: string): Progress =>
    (done, total) =>
      opts.onProgress?.(stage, done, total);
  const tag = newTag();
  const small = T - 1;
  const pairs = small > 0 ? Math.max(N, small) : 0;
  // The timeline, one millisecond per row: users, then tenants, then memberships, ending now.
  const userBase = Date.now() - (2 * N + T + pairs) - 1000;
  const tenantBase = userBase + N;
  const pairBase = tenantBase + T;
  const bigBase = pairBase + pairs;

  opts.onProgress?.('password hash', 0, 1);
  const u: UserBatch = {
    tag,
    base: userBase,
    email: (n) => sql`'scale-user-' || ${n} || '@example.test'`,
    name: (n) => sql`'Scale User ' || ${n}`,
    passwordHash: await hashOnce(SEED_PASSWORD),
  };
  opts.onProgress?.('password hash', 1, 1);
  await inBatches(database, N, (tx, from, to) => insertUsers(tx, u, from, to), progress('users'));

  // The big tenant is made by the tenants repo itself, so its roles are exactly the service's; the
  // other tenants' roles are copies of these rows.
  const tenantMs = (k: SQL) => sql`(${tenantBase}::bigint + ${k})`;
  const tenantId = (k: SQL) => v7(tenantMs(k), sql`${tag} || ':tenant:' || ${k}`);
  const roleId = (k: SQL, builtIn: SQL) =>
    v7(tenantMs(k), sql`${tag} || ':role:' || ${k} || ':' || ${builtIn}`);
  const bigAt = new Date(tenantBase + T);
  const big = await database.db.transaction(async (tx) => {
    const tenant = await insertTenantUnlessSlugTaken(tx, {
      id: uuidv7(bigAt.getTime()),
      name: 'Scale Big',
      slug: BIG_TENANT_SLUG,
      createdAt: bigAt,
      updatedAt: bigAt,
    });
    if (!tenant) throw new Error(`A tenant ${BIG_TENANT_SLUG} appeared meanwhile`);
    const ownerRoleId = await insertBuiltInRoles(tx, tenant.id, bigAt);
    const [member] = await tx
      .select({ id: roles.id })
      .from(roles)
      .where(and(eq(roles.tenantId, tenant.id), eq(roles.builtIn, 'member')));
    return { id: tenant.id, ownerRoleId, memberRoleId: member!.id };
  });
  await inBatches(
    database,
    small,
    async (tx, from, to) => {
      const k = sql`k`;
      const rows = sql`from generate_series(${from}::int, ${to}::int) k`;
      await tx.execute(sql`
        insert into ${tenants} (id, name, slug, created_at, updated_at)
        select ${tenantId(k)}, 'Scale Tenant ' || k, 'scale-' || k, ${at(tenantMs(k))}, ${at(tenantMs(k))} ${rows}`);
      await tx.execute(sql`
        insert into ${roles} (id, tenant_id, name, description, built_in, created_at, updated_at)
        select ${roleId(k, sql`r.built_in`)}, ${tenantId(k)}, r.name, r.description, r.built_in,
               ${at(tenantMs(k))}, ${at(tenantMs(k))}
        ${rows} cross join (select name, description, built_in from ${roles} where tenant_id = ${big.id}) r`);
    },
    progress('tenants'),
  );

  await inBatches(
    database,
    pairs,
    (tx, from, to) =>
      insertMemberships(
        tx,
        {
          tag,
          base: pairBase,
          pair: (j) => {
            const t = sql`((${j} - 1) % ${small}::int + 1)`;
            return {
              userId: userId(u, sql`((${j} - 1) % ${N}::int + 1)`),
              tenantId: tenantId(t),
              roleId: roleId(t, sql`(case when ${j} <= ${small}::int then 'owner' else 'member' end)`),
            };
          },
        },
        from,
        to,
      ),
    progress('memberships'),
  );

  await inBatches(
    database,
    N,
    (tx, from, to) =>
      insertMemberships(
        tx,
        {
          tag: `${tag}:big`,
          base: bigBase,
          pair: (i) => ({
            userId: userId(u, i),
            tenantId: sql`${big.id}::uuid`,
            roleId: sql`(case when ${i} = 1 then ${big.ownerRoleId}::uuid else ${big.memberRoleId}::uuid end)`,
          }),
        },
        from,
        to,
      ),
    progress(BIG_TENANT_SLUG),
  );

  opts.onProgress?.('analyze', 0, 1);
  await analyze(database);
  opts.onProgress?.('analyze', 1, 1);
  return { bigTenantId: big.id, created: true };
}

/** The big tenant of an earlier seedScale and its member count, if there is one. */
async function existingSeed(database: Database): Promise<{ tenantId: string; members: number } | undefined> {
  const [tenant] = await database.db
    .select({ id: tenants.id })
    .from(tenants)
    .where(eq(tenants.slug, BIG_TENANT_SLUG));
  if (!tenant) return undefined;
  const [row] = await database.db
    .select({ n: count() })
    .from(memberships)
    .where(eq(memberships.tenantId, tenant.id));
  return { tenantId: tenant.id, members: Number(row?.n ?? 0) };
}

/** Row counts of the tables a seed fills, for reports. */
export async function seededTotals(database: Database): Promise<Record<string, number>> {
  const rows = await queryRows<Record<string, string | number>>(
    database.db,
    sql`select (select count(*) from users) as users, (select count(*) from tenants) as tenants,
               (select count(*) from roles) as roles, (select count(*) from memberships) as memberships,
               (select count(*) from member_roles) as member_roles`,
  );
  return Object.fromEntries(Object.entries(rows[0] ?? {}).map(([key, value]) => [key, Number(value)]));
}
