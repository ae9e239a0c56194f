import { and, asc, desc, eq, ilike, inArray, lt, sql } from 'drizzle-orm';
import { memberRoles, type RoleRow, rolePermissions, roles } from '../../db/schema/index.js';
import { ConflictError, ValidationError } from '../../domain/errors.js';
import { type Executor, literalLimit } from '../../platform/db.js';
import { likePattern, pageLimit } from '../../platform/pagination.js';
import { isForeignKeyViolation, isUniqueViolation } from '../../platform/pg-errors.js';

const NAME_TAKEN = () => new ConflictError('conflict', 'A role with this name already exists in the tenant');

/** A role of this tenant; another tenant's role id is simply not found. */
export async function findRole(
  tx: Executor,
  tenantId: string,
  roleId: string,
  options: { lock?: boolean } = {},
): Promise<RoleRow | undefined> {
  const query = tx
    .select()
    .from(roles)
    .where(and(eq(roles.tenantId, tenantId), eq(roles.id, roleId)));
  const [row] = options.lock ? await query.for('update') : await query;
  return row;
}

/** Newest first, keyset on the UUIDv7 id. */
export function listRoles(
  tx: Executor,
  tenantId: string,
  options: { q?: string | undefined; before?: string | undefined; limit: number },
): Promise<RoleRow[]> {
  return tx
    .select()
    .from(roles)
    .where(
      and(
        eq(roles.tenantId, tenantId),
        options.q ? ilike(roles.name, likePattern(options.q)) : undefined,
        options.before ? lt(roles.id, options.before) : undefined,
      ),
    )
    .orderBy(desc(roles.id))
    .limit(pageLimit(options.limit));
}

/** The stored permission keys of custom roles, sorted, by role id. */
export async function storedPermissions(
  tx: Executor,
  tenantId: string,
  roleIds: string[],
): Promise<Map<string, string[]>> {
  const byRole = new Map<string, string[]>(roleIds.map((id) => [id, []]));
  if (roleIds.length === 0) return byRole;
  const rows = await tx
    .select({ roleId: rolePermissions.roleId, key: rolePermissions.permissionKey })
    .from(rolePermissions)
    .where(and(eq(rolePermissions.tenantId, tenantId), inArray(rolePermissions.roleId, roleIds)))
    .orderBy(asc(rolePermissions.permissionKey));
  for (const row of rows) byRole.get(row.roleId)?.push(row.key);
  return byRole;
}

/** The roles a user holds in a tenant (none when not a member). */
export function memberRolesOf(
  tx: Executor,
  tenantId: string,
  userId: string,
): Promise<Pick<RoleRow, 'id' | 'builtIn'>[]> {
  return tx
    .select({ id: roles.id, builtIn: roles.builtIn })
    .from(memberRoles)
    .innerJoin(roles, and(eq(roles.tenantId, memberRoles.tenantId), eq(roles.id, memberRoles.roleId)))
    .where(and(eq(memberRoles.tenantId, tenantId), eq(memberRoles.userId, userId)));
}

export async function isRoleAssigned(tx: Executor, tenantId: string, roleId: string): Promise<boolean> {
  const [row] = await tx
    .select({ one: sql<number>`1` })
    .from(memberRoles)
    .where(and(eq(memberRoles.tenantId, tenantId), eq(memberRoles.roleId, roleId)))
    .limit(literalLimit(1));
  return row !== undefined;
}

/** @throws ConflictError conflict (roles_tenant_name_key: the name is taken, case-insensitively) */
export async function insertRole(tx: Executor, values: typeof roles.$inferInsert): Promise<RoleRow> {
  try {
    const [row] = await tx.insert(roles).values(values).returning();
    return row!;
  } catch (error) {
    if (isUniqueViolation(error, 'roles_tenant_name_key')) throw NAME_TAKEN();
    throw error;
  }
}

/** @throws ConflictError conflict (the new name is taken) */
export async function updateRole(
  tx: Executor,
  tenantId: string,
  roleId: string,
  values: { name?: string; description?: string },
  at: Date,
): Promise<RoleRow> {
  try {
    const [row] = await tx
      .update(roles)
      .set({ ...values, updatedAt: at })
      .where(and(eq(roles.tenantId, tenantId), eq(roles.id, roleId)))
      .returning();
    return row!;
  } catch (error) {
    if (isUniqueViolation(error, 'roles_tenant_name_key')) throw NAME_TAKEN();
    throw error;
  }
}

/**
 * Replaces a custom role's permissions. The keys were checked against the catalogue in this
 * transaction; a key removed concurrently still fails on role_permissions_permission_fkey, mapped
 * to the same 400.
 * @throws ValidationError (a key left the catalogue meanwhile)
 */
export async function replaceRolePermissions(
  tx: Executor,
  tenantId: string,
  roleId: string,
  keys: string[],
): Promise<void> {
  await tx
    .delete(rolePermissions)
    .where(and(eq(rolePermissions.tenantId, tenantId), eq(rolePermissions.roleId, roleId)));
  if (keys.length === 0) return;
  try {
    await tx
      .insert(rolePermissions)
      .values(keys.map((permissionKey) => ({ tenantId, roleId, permissionKey })));
  } catch (error) {
    if (isForeignKeyViolation(error, 'role_permissions_permission_fkey')) {
      throw new ValidationError('Unknown permission', [
        { path: '/permissions', message: 'holds a key that is not in the catalogue' },
      ]);
    }
    throw error;
  }
}

/**
 * @throws ConflictError role_in_use (member_roles_role_fkey: assigned by a transaction that
 * committed after our check)
 */
export async function deleteRole(tx: Executor, tenantId: string, roleId: string): Promise<void> {
  try {
    await tx.delete(roles).where(and(eq(roles.tenantId, tenantId), eq(roles.id, roleId)));
  } catch (error) {
    if (isForeignKeyViolation(error, 'member_roles_role_fkey')) throw roleInUse();
    throw error;
  }
}

export function roleInUse(): ConflictError {
  return new ConflictError('role_in_use', 'The role is still assigned to members; reassign them first');
}
