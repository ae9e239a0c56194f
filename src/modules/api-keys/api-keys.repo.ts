import { and, asc, desc, eq, ilike, inArray, lt } from 'drizzle-orm';
import { type ApiKeyRow, apiKeyPermissions, apiKeys, memberRoles, roles } from '../../db/schema/index.js';
import { ValidationError } from '../../domain/errors.js';
import type { Executor } from '../../platform/db.js';
import { likePattern, pageLimit } from '../../platform/pagination.js';
import { isForeignKeyViolation } from '../../platform/pg-errors.js';

/** A key of this tenant; another tenant's key id is simply not found. */
export async function findApiKey(
  tx: Executor,
  tenantId: string,
  id: string,
  options: { lock?: boolean } = {},
): Promise<ApiKeyRow | undefined> {
  const query = tx
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, id)));
  const [row] = options.lock ? await query.for('update') : await query;
  return row;
}

/** Newest first, keyset on the UUIDv7 id. */
export function listApiKeys(
  tx: Executor,
  tenantId: string,
  options: { q?: string | undefined; before?: string | undefined; limit: number },
): Promise<ApiKeyRow[]> {
  return tx
    .select()
    .from(apiKeys)
    .where(
      and(
        eq(apiKeys.tenantId, tenantId),
        options.q ? ilike(apiKeys.name, likePattern(options.q)) : undefined,
        options.before ? lt(apiKeys.id, options.before) : undefined,
      ),
    )
    .orderBy(desc(apiKeys.id))
    .limit(pageLimit(options.limit));
}

/** The permission keys of each key, sorted, by key id. */
export async function permissionsOf(
  tx: Executor,
  tenantId: string,
  ids: string[],
): Promise<Map<string, string[]>> {
  const byKey = new Map<string, string[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return byKey;
  const rows = await tx
    .select({ id: apiKeyPermissions.apiKeyId, key: apiKeyPermissions.permissionKey })
    .from(apiKeyPermissions)
    .where(and(eq(apiKeyPermissions.tenantId, tenantId), inArray(apiKeyPermissions.apiKeyId, ids)))
    .orderBy(asc(apiKeyPermissions.permissionKey));
  for (const row of rows) byKey.get(row.id)?.push(row.key);
  return byKey;
}

/**
 * Inserts a key and what it holds. The keys were checked against the catalogue in this
 * transaction; one removed concurrently fails on api_key_permissions_permission_fkey (400).
 * @throws ValidationError
 */
export async function insertApiKey(
  tx: Executor,
  values: typeof apiKeys.$inferInsert,
  permissions: string[],
): Promise<ApiKeyRow> {
  const [row] = await tx.insert(apiKeys).values(values).returning();
  if (permissions.length === 0) return row!;
  try {
    await tx
      .insert(apiKeyPermissions)
      .values(
        permissions.map((permissionKey) => ({ tenantId: row!.tenantId, apiKeyId: row!.id, permissionKey })),
      );
  } catch (error) {
    if (isForeignKeyViolation(error, 'api_key_permissions_permission_fkey')) {
      throw new ValidationError('Unknown permission', [
        { path: '/permissions', message: 'holds a key that is not in the catalogue' },
      ]);
    }
    throw error;
  }
  return row!;
}

export async function updateApiKey(
  tx: Executor,
  tenantId: string,
  id: string,
  values: Partial<Pick<ApiKeyRow, 'keyHash' | 'prefix' | 'revokedAt'>>,
): Promise<ApiKeyRow> {
  const [row] = await tx
    .update(apiKeys)
    .set(values)
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, id)))
    .returning();
  return row!;
}

/** The roles a user holds in a tenant (none when not a member). */
export function rolesOfUser(
  tx: Executor,
  tenantId: string,
  userId: string,
): Promise<{ id: string; builtIn: 'owner' | 'admin' | 'member' | null }[]> {
  return tx
    .select({ id: roles.id, builtIn: roles.builtIn })
    .from(memberRoles)
    .innerJoin(roles, and(eq(roles.tenantId, memberRoles.tenantId), eq(roles.id, memberRoles.roleId)))
    .where(and(eq(memberRoles.tenantId, tenantId), eq(memberRoles.userId, userId)));
}
