import { and, asc, eq, inArray, type SQL, sql } from 'drizzle-orm';
import { memberRoles, memberships, type RoleRow, roles, tenants, users } from '../../db/schema/index.js';
import { ConflictError } from '../../domain/errors.js';
import { type Executor, literalLimit, queryRows, Statement } from '../../platform/db.js';
import { fetchSize, likePattern } from '../../platform/pagination.js';
import { isUniqueViolation } from '../../platform/pg-errors.js';

export interface MemberRow {
  id: string;
  createdAt: Date;
  user: { id: string; email: string; name: string | null };
}

export type HeldRole = Pick<RoleRow, 'id' | 'name' | 'builtIn'>;

/** A members page row: the member, joined as ISO 8601 text, with the ids of the roles they hold. */
export interface MemberPageRow extends Omit<MemberRow, 'createdAt'> {
  createdAt: string;
  roleIds: string[];
}

const memberColumns = {
  id: memberships.id,
  createdAt: memberships.createdAt,
  user: { id: users.id, email: users.email, name: users.name },
};

/**
 * Locks the tenant's row until the transaction ends. Every change to who holds `owner` in a tenant
 * takes it before counting owners, so two concurrent demotions (or removals, or a member leaving
 * while their account is deleted) cannot each see the other owner and both go ahead.
 * Answers false when the tenant is gone.
 */
export async function lockTenant(tx: Executor, tenantId: string): Promise<boolean> {
  const rows = await tx
    .select({ id: tenants.id })
    .from(tenants)
    .where(eq(tenants.id, tenantId))
    .for('update');
  return rows.length > 0;
}

/** @throws ConflictError member.exists when the user is already a member (memberships_tenant_user_key) */
export async function insertMembership(
  tx: Executor,
  values: { tenantId: string; userId: string; createdAt: Date },
): Promise<void> {
  try {
    await tx.insert(memberships).values(values);
  } catch (error) {
    if (isUniqueViolation(error, 'memberships_tenant_user_key')) {
      throw new ConflictError('member.exists', 'The user is already a member of this tenant');
    }
    throw error;
  }
}

export async function insertMemberRoles(
  tx: Executor,
  tenantId: string,
  userId: string,
  roleIds: string[],
): Promise<void> {
  if (roleIds.length === 0) return;
  await tx.insert(memberRoles).values(roleIds.map((roleId) => ({ tenantId, userId, roleId })));
}

export async function deleteMemberRoles(
  tx: Executor,
  tenantId: string,
  userId: string,
  roleIds: string[],
): Promise<void> {
  if (roleIds.length === 0) return;
  await tx
    .delete(memberRoles)
    .where(
      and(
        eq(memberRoles.tenantId, tenantId),
        eq(memberRoles.userId, userId),
        inArray(memberRoles.roleId, roleIds),
      ),
    );
}

/** Deletes a membership; its role links go with it (foreign key cascade). */
export async function deleteMembership(tx: Executor, tenantId: string, userId: string): Promise<boolean> {
  const rows = await tx
    .delete(memberships)
    .where(and(eq(memberships.tenantId, tenantId), eq(memberships.userId, userId)))
    .returning({ id: memberships.id });
  return rows.length > 0;
}

export async function findMember(
  tx: Executor,
  tenantId: string,
  userId: string,
): Promise<MemberRow | undefined> {
  const [row] = await tx
    .select(memberColumns)
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(and(eq(memberships.tenantId, tenantId), eq(memberships.userId, userId)));
  return row;
}

/**
 * One page of a tenant's members with the ids of the roles each holds, newest first, in one round
 * trip. The names come from RoleNames: a join to roles and a JSON array per member here was two
 * thirds of the database's work for a page. Keyset on the (tenant_id, id) primary key, which serves
 * the rows in order, so the millionth row costs what the first does. Not a row comparison
 * `(tenant_id, id) < ($1, $2)`: PostgreSQL positions a backward scan on `tenant_id = $1` and then
 * walks to the cursor, 64 ms deep in a 1M-member tenant against 0.04 ms this way
 * (bench/members-page-depth.ts). Written in SQL rather than with drizzle's builder: building this
 * select column by column and mapping its rows back took more of the event loop than the rest of
 * the request; and built into text once per shape (cursor or not, search or not, rows fetched).
 * Built without running, so a test can EXPLAIN it.
 */
export function membersPageQuery(
  tenantId: string,
  options: { q?: string | undefined; before?: string | undefined; limit: number },
): SQL {
  const shape = {
    before: options.before !== undefined,
    q: Boolean(options.q),
    rows: fetchSize(options.limit),
  };
  const key = `${shape.before} ${shape.q} ${shape.rows}`;
  let statement = pageStatements.get(key);
  if (!statement) {
    statement = new Statement<PageValues>(membersPageTemplate(shape));
    pageStatements.set(key, statement);
  }
  return statement.bind({
    tenantId,
    before: options.before,
    pattern: options.q ? likePattern(options.q) : undefined,
  });
}

type PageValues = { tenantId: string; before: string | undefined; pattern: string | undefined };
/** At most 2 x 2 x 4 shapes (see fetchSize). */
const pageStatements = new Map<string, Statement<PageValues>>();

function membersPageTemplate(shape: { before: boolean; q: boolean; rows: number }): SQL {
  const pattern = sql.placeholder('pattern');
  // The join time comes as the API writes it (what Date#toISOString gives), so no row is parsed
  // into a Date and formatted again. Role ids as an array, not json_agg: a tenth less of the
  // database's time for the page; sent as comma-joined text (a uuid holds no comma), which the
  // page splits in one native call, where postgres.js would parse the array in JavaScript
  // character by character.
  return sql`select m.id, to_char(m.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "createdAt",
      u.id as "userId", u.email, u.name,
      array_to_string(array(select mr.role_id from ${memberRoles} mr
       where mr.tenant_id = m.tenant_id and mr.user_id = m.user_id), ',') as "roleIds"
    from ${memberships} m join ${users} u on u.id = m.user_id
    where m.tenant_id = ${sql.placeholder('tenantId')}${shape.before ? sql` and m.id < ${sql.placeholder('before')}` : sql.empty()}${
      shape.q ? sql` and (u.email ilike ${pattern} or u.name ilike ${pattern})` : sql.empty()
    }
    order by m.tenant_id desc, m.id desc
    limit ${literalLimit(shape.rows)}`;
}

export async function membersPage(
  tx: Executor,
  tenantId: string,
  options: { q?: string | undefined; before?: string | undefined; limit: number },
): Promise<MemberPageRow[]> {
  const rows = await queryRows<{
    id: string;
    createdAt: string;
    userId: string;
    email: string;
    name: string | null;
    roleIds: string;
  }>(tx, membersPageQuery(tenantId, options));
  return rows.map((r) => ({
    id: r.id,
    createdAt: r.createdAt,
    user: { id: r.userId, email: r.email, name: r.name },
    roleIds: r.roleIds === '' ? [] : r.roleIds.split(','),
  }));
}

/** The roles each of `userIds` holds in the tenant, by user id, each list by name. */
export async function rolesOfMembers(
  tx: Executor,
  tenantId: string,
  userIds: string[],
): Promise<Map<string, HeldRole[]>> {
  const byUser = new Map<string, HeldRole[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return byUser;
  const rows = await tx
    .select({ userId: memberRoles.userId, id: roles.id, name: roles.name, builtIn: roles.builtIn })
    .from(memberRoles)
    .innerJoin(roles, and(eq(roles.tenantId, memberRoles.tenantId), eq(roles.id, memberRoles.roleId)))
    .where(and(eq(memberRoles.tenantId, tenantId), inArray(memberRoles.userId, userIds)))
    .orderBy(asc(roles.name), asc(roles.id));
  for (const { userId, ...role } of rows) byUser.get(userId)?.push(role);
  return byUser;
}

/** How many members hold the built-in owner role. Under lockTenant, the count stays true until commit. */
export async function countOwners(tx: Executor, tenantId: string): Promise<number> {
  const [row] = await tx
    .select({ n: sql<number>`count(*)::int` })
    .from(memberRoles)
    .innerJoin(roles, and(eq(roles.tenantId, memberRoles.tenantId), eq(roles.id, memberRoles.roleId)))
    .where(and(eq(memberRoles.tenantId, tenantId), eq(roles.builtIn, 'owner')));
  return Number(row?.n ?? 0);
}

/**
 * Locks the user's row: new memberships of this user (whose foreign key takes a share lock on it)
 * wait until the transaction ends, so the set of the user's tenants read next cannot grow.
 */
export async function lockUser(tx: Executor, userId: string): Promise<void> {
  await tx.select({ id: users.id }).from(users).where(eq(users.id, userId)).for('update');
}

/**
 * Locks every tenant the user belongs to, in id order (so two such transactions never deadlock
 * each other), and answers the ids of those where the user is the only owner.
 */
export async function lockTenantsOfUser(
  tx: Executor,
  userId: string,
): Promise<{ tenantIds: string[]; soleOwnerOf: string[] }> {
  const locked = await queryRows<{ id: string }>(
    tx,
    sql`select t.id from ${tenants} t
        where t.id in (select m.tenant_id from ${memberships} m where m.user_id = ${userId})
        order by t.id for update of t`,
  );
  const tenantIds = locked.map((r) => r.id);
  if (tenantIds.length === 0) return { tenantIds, soleOwnerOf: [] };
  const sole = await queryRows<{ tenant_id: string }>(
    tx,
    sql`select mr.tenant_id from ${memberRoles} mr
        join ${roles} r on r.tenant_id = mr.tenant_id and r.id = mr.role_id and r.built_in = 'owner'
        where mr.tenant_id in (select mine.tenant_id from ${memberRoles} mine
                               join ${roles} ro on ro.tenant_id = mine.tenant_id and ro.id = mine.role_id
                               where mine.user_id = ${userId} and ro.built_in = 'owner')
        group by mr.tenant_id
        having count(*) = 1`,
  );
  return { tenantIds, soleOwnerOf: sole.map((r) => r.tenant_id) };
}
