import { and, eq, inArray } from 'drizzle-orm';
import { type RoleRow, rolePermissions, roles } from '../../db/schema/index.js';
import { type BuiltInRole, builtInRolePermissions } from '../../domain/permissions.js';
import type { Executor } from '../../platform/db.js';

/** The roles of `tenantId` among `roleIds`; ids of other tenants' roles are simply not found. */
export function findTenantRoles(tx: Executor, tenantId: string, roleIds: string[]): Promise<RoleRow[]> {
  if (roleIds.length === 0) return Promise.resolve([]);
  return tx
    .select()
    .from(roles)
    .where(and(eq(roles.tenantId, tenantId), inArray(roles.id, roleIds)));
}

/**
 * Every permission the given roles carry: built-in roles by rule over the catalogue, custom roles
 * from role_permissions. What a grant of these roles would hand out, for escalation checks.
 */
export async function permissionsOfRoles(
  tx: Executor,
  tenantId: string,
  held: Pick<RoleRow, 'id' | 'builtIn'>[],
  catalogue: string[],
): Promise<Set<string>> {
  const granted = new Set<string>();
  for (const role of held) {
    if (role.builtIn)
      for (const key of builtInRolePermissions(role.builtIn as BuiltInRole, catalogue)) granted.add(key);
  }
  const custom = held.filter((r) => r.builtIn === null).map((r) => r.id);
  if (custom.length > 0) {
    const rows = await tx
      .select({ key: rolePermissions.permissionKey })
      .from(rolePermissions)
      .where(and(eq(rolePermissions.tenantId, tenantId), inArray(rolePermissions.roleId, custom)));
    for (const row of rows) granted.add(row.key);
  }
  return granted;
}
