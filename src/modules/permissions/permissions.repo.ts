import { and, asc, eq, gt, ilike, inArray, or } from 'drizzle-orm';
import { type PermissionRow, permissions } from '../../db/schema/index.js';
import { ConflictError } from '../../domain/errors.js';
import type { Executor } from '../../platform/db.js';
import { likePattern, pageLimit } from '../../platform/pagination.js';
import { isUniqueViolation } from '../../platform/pg-errors.js';

export async function findPermission(tx: Executor, key: string): Promise<PermissionRow | undefined> {
  const [row] = await tx.select().from(permissions).where(eq(permissions.key, key));
  return row;
}

/** The keys among `keys` that the catalogue holds. */
export async function existingKeys(tx: Executor, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await tx
    .select({ key: permissions.key })
    .from(permissions)
    .where(inArray(permissions.key, keys));
  return new Set(rows.map((r) => r.key));
}

export async function allKeys(tx: Executor): Promise<string[]> {
  const rows = await tx.select({ key: permissions.key }).from(permissions).orderBy(asc(permissions.key));
  return rows.map((r) => r.key);
}

/** Keyset by key, ascending: `after` is the last key of the previous page. */
export function listPermissions(
  tx: Executor,
  options: { q?: string | undefined; after?: string | undefined; limit: number },
): Promise<PermissionRow[]> {
  const search = options.q
    ? or(
        ilike(permissions.key, likePattern(options.q)),
        ilike(permissions.description, likePattern(options.q)),
      )
    : undefined;
  return tx
    .select()
    .from(permissions)
    .where(and(search, options.after ? gt(permissions.key, options.after) : undefined))
    .orderBy(asc(permissions.key))
    .limit(pageLimit(options.limit));
}

/** @throws ConflictError conflict when the key exists (permissions_pkey) */
export async function insertPermission(
  tx: Executor,
  values: typeof permissions.$inferInsert,
): Promise<PermissionRow> {
  try {
    const [row] = await tx.insert(permissions).values(values).returning();
    return row!;
  } catch (error) {
    if (isUniqueViolation(error, 'permissions_pkey')) {
      throw new ConflictError('conflict', `The permission ${values.key} already exists`);
    }
    throw error;
  }
}

export async function updatePermission(
  tx: Executor,
  key: string,
  values: { description: string },
  at: Date,
): Promise<PermissionRow | undefined> {
  const [row] = await tx
    .update(permissions)
    .set({ ...values, updatedAt: at })
    .where(eq(permissions.key, key))
    .returning();
  return row;
}

/** Removing a key removes it from every role too (role_permissions_permission_fkey cascades). */
export async function deletePermission(tx: Executor, key: string): Promise<boolean> {
  const rows = await tx
    .delete(permissions)
    .where(eq(permissions.key, key))
    .returning({ key: permissions.key });
  return rows.length > 0;
}
