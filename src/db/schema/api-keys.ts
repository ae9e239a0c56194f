import {
  foreignKey,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  unique,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { createdAt, id, timestamptz } from './columns.js';
import { permissions } from './permissions.js';
import { tenants } from './tenants.js';
import { users } from './users.js';

export const apiKeyScope = pgEnum('api_key_scope', ['read', 'write', 'admin']);

/**
 * A tenant's API keys. Only the HMAC of a key's secret is stored (`key_hash`, found by its unique
 * index); `prefix` is its first 12 characters, kept for display. The key is the tenant's, not its
 * creator's: `created_by` is cleared when that user is deleted, and the key keeps working.
 */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: id(),
    tenantId: uuid('tenant_id').notNull(),
    name: text('name').notNull(),
    prefix: text('prefix').notNull(),
    keyHash: text('key_hash').notNull(),
    scope: apiKeyScope('scope').notNull(),
    expiresAt: timestamptz('expires_at'),
    lastUsedAt: timestamptz('last_used_at'),
    revokedAt: timestamptz('revoked_at'),
    createdAt: createdAt(),
    createdBy: uuid('created_by'),
  },
  (t) => [
    uniqueIndex('api_keys_key_hash_key').on(t.keyHash),
    // Target of the composite foreign key that keeps a key's permissions inside its tenant, and the
    // index of a tenant's key list (keyset on the UUIDv7 id).
    unique('api_keys_tenant_id_id_key').on(t.tenantId, t.id),
    foreignKey({
      name: 'api_keys_tenant_id_fkey',
      columns: [t.tenantId],
      foreignColumns: [tenants.id],
    }).onDelete('cascade'),
    foreignKey({
      name: 'api_keys_created_by_fkey',
      columns: [t.createdBy],
      foreignColumns: [users.id],
    }).onDelete('set null'),
  ],
);

/**
 * What a key holds, fixed when it is made (its scope, narrowed, within what its creator held). A
 * permission removed from the catalogue leaves every key that held it (cascade).
 */
export const apiKeyPermissions = pgTable(
  'api_key_permissions',
  {
    tenantId: uuid('tenant_id').notNull(),
    apiKeyId: uuid('api_key_id').notNull(),
    permissionKey: text('permission_key').notNull(),
  },
  (t) => [
    primaryKey({ name: 'api_key_permissions_pkey', columns: [t.apiKeyId, t.permissionKey] }),
    foreignKey({
      name: 'api_key_permissions_key_fkey',
      columns: [t.tenantId, t.apiKeyId],
      foreignColumns: [apiKeys.tenantId, apiKeys.id],
    }).onDelete('cascade'),
    foreignKey({
      name: 'api_key_permissions_permission_fkey',
      columns: [t.permissionKey],
      foreignColumns: [permissions.key],
    })
      .onDelete('cascade')
      .onUpdate('cascade'),
  ],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;
