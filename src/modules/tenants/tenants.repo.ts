import { and, asc, desc, eq, ilike, inArray, lt, or, type SQL } from 'drizzle-orm';
import { memberRoles, memberships, roles, type TenantRow, tenants } from '../../db/schema/index.js';
import { ConflictError } from '../../domain/errors.js';
import { BUILT_IN_ROLES } from '../../domain/permissions.js';
import type { Executor } from '../../platform/db.js';
import { likePattern, pageLimit } from '../../platform/pagination.js';
import { isUniqueViolation } from '../../platform/pg-errors.js';
import type { RoleRef } from './tenants.schemas.js';

const BUILT_IN_DESCRIPTIONS = {
  owner: 'Every permission, including deleting the tenant',
  admin: 'Every permission but deleting the tenant',
  member: 'Reads the tenant, its members and roles',
} as const;

/**
 * Inserts a tenant unless its slug is taken; `undefined` then, without failing the transaction
 * (a unique violation would abort it, and the caller wants to try another slug).
 */
export async function insertTenantUnlessSlugTaken(
  tx: Executor,
  values: typeof tenants.$inferInsert,
): Promise<TenantRow | undefined> {
  const [row] = await tx
    .insert(tenants)
    .values(values)
    .onConflictDoNothing({ target: tenants.slug })
    .returning();
  return row;
}

/** The three built-in roles every tenant has; answers the owner role's id. */
export async function insertBuiltInRoles(tx: Executor, tenantId: string, at: Date): Promise<string> {
  const rows = await tx
    .insert(roles)
    .values(
      BUILT_IN_ROLES.map((name) => ({
        tenantId,
        name,
        description: BUILT_IN_DESCRIPTIONS[name],
        builtIn: name,
        createdAt: at,
        updatedAt: at,
      })),
    )
    .returning({ id: roles.id, builtIn: roles.builtIn });
  return rows.find((r) => r.builtIn === 'owner')!.id;
}

export async function findTenant(tx: Executor, id: string): Promise<TenantRow | undefined> {
  const [row] = await tx.select().from(tenants).where(eq(tenants.id, id));
  return row;
}

/** @throws ConflictError conflict when the slug is taken (tenants_slug_key) */
export async function updateTenant(
  tx: Executor,
  id: string,
  values: { name?: string; slug?: string },
  at: Date,
): Promise<TenantRow | undefined> {
  try {
    const [row] = await tx
      .update(tenants)
      .set({ ...values, updatedAt: at })
      .where(eq(tenants.id, id))
      .returning();
    return row;
  } catch (error) {
    if (isUniqueViolation(error, 'tenants_slug_key')) {
      throw new ConflictError('conflict', 'Another tenant has this slug');
    }
    throw error;
  }
}

/** Deletes the tenant; its roles, memberships and their links go with it (foreign keys cascade). */
export async function deleteTenant(tx: Executor, id: string): Promise<boolean> {
  const rows = await tx.delete(tenants).where(eq(tenants.id, id)).returning({ id: tenants.id });
  return rows.length > 0;
}

export interface TenantListOptions {
  /** Only tenants this user belongs to; every tenant when absent (superusers). */
  memberId?: string | undefined;
  q?: string | undefined;
  before?: string | undefined;
  limit: number;
}

/** Newest first (UUIDv7 ids), keyset on the id; `limit + 1` rows so the caller knows if more follow. */
export async function listTenants(tx: Executor, options: TenantListOptions): Promise<TenantRow[]> {
  const conditions: Array<SQL | undefined> = [
    options.q
      ? or(ilike(tenants.name, likePattern(options.q)), ilike(tenants.slug, likePattern(options.q)))
      : undefined,
    options.before ? lt(tenants.id, options.before) : undefined,
  ];
  if (options.memberId === undefined) {
    return tx
      .select()
      .from(tenants)
      .where(and(...conditions))
      .orderBy(desc(tenants.id))
      .limit(pageLimit(options.limit));
  }
  const rows = await tx
    .select({ tenant: tenants })
    .from(tenants)
    .innerJoin(memberships, eq(memberships.tenantId, tenants.id))
    .where(and(eq(memberships.userId, options.memberId), ...conditions))
    .orderBy(desc(tenants.id))
    .limit(pageLimit(options.limit));
  return rows.map((r) => r.tenant);
}

/** The roles `userId` holds in each of `tenantIds`, by tenant id, each list by name. */
export async function rolesInTenants(
  tx: Executor,
  userId: string,
  tenantIds: string[],
): Promise<Map<string, RoleRef[]>> {
  const byTenant = new Map<string, RoleRef[]>(tenantIds.map((id) => [id, []]));
  if (tenantIds.length === 0) return byTenant;
  const rows = await tx
    .select({ tenantId: memberRoles.tenantId, id: roles.id, name: roles.name })
    .from(memberRoles)
    .innerJoin(roles, and(eq(roles.tenantId, memberRoles.tenantId), eq(roles.id, memberRoles.roleId)))
    .where(and(eq(memberRoles.userId, userId), inArray(memberRoles.tenantId, tenantIds)))
    .orderBy(asc(roles.name), asc(roles.id));
  for (const row of rows) byTenant.get(row.tenantId)?.push({ id: row.id, name: row.name });
  return byTenant;
}
