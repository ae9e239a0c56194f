import { sql } from 'drizzle-orm';
import {
  foreignKey,
  index,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  unique,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { uuidv7 } from '../../domain/ids.js';
import { createdAt, id, updatedAt } from './columns.js';
import { permissions } from './permissions.js';
import { users } from './users.js';

export const tenants = pgTable(
  'tenants',
  {
    id: id(),
    name: text('name').notNull(),
    slug: text('slug').notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('tenants_slug_key').on(t.slug)],
);

/** Which built-in role a role is; null for a tenant's custom roles. */
export const builtInRole = pgEnum('built_in_role', ['owner', 'admin', 'member']);

export const roles = pgTable(
  'roles',
  {
    id: id(),
    tenantId: uuid('tenant_id').notNull(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    builtIn: builtInRole('built_in'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    foreignKey({
      name: 'roles_tenant_id_fkey',
      columns: [t.tenantId],
      foreignColumns: [tenants.id],
    }).onDelete('cascade'),
    uniqueIndex('roles_tenant_name_key').on(t.tenantId, sql`lower(${t.name})`),
    // Target of the composite foreign keys that keep every role link inside its tenant.
    unique('roles_tenant_id_id_key').on(t.tenantId, t.id),
    uniqueIndex('roles_tenant_built_in_key').on(t.tenantId, t.builtIn),
  ],
);

/** The permissions of custom roles; built-in roles get theirs by rule (domain/permissions.ts). */
export const rolePermissions = pgTable(
  'role_permissions',
  {
    tenantId: uuid('tenant_id').notNull(),
    roleId: uuid('role_id').notNull(),
    permissionKey: text('permission_key').notNull(),
  },
  (t) => [
    primaryKey({ name: 'role_permissions_pkey', columns: [t.roleId, t.permissionKey] }),
    foreignKey({
      name: 'role_permissions_role_fkey',
      columns: [t.tenantId, t.roleId],
      foreignColumns: [roles.tenantId, roles.id],
    }).onDelete('cascade'),
    foreignKey({
      name: 'role_permissions_permission_fkey',
      columns: [t.permissionKey],
      foreignColumns: [permissions.key],
    })
      .onDelete('cascade')
      .onUpdate('cascade'),
  ],
);

export const memberships = pgTable(
  'memberships',
  {
    /** UUIDv7: members pages are keyset-paginated on it, newest first. */
    id: uuid('id')
      .notNull()
      .$defaultFn(() => uuidv7()),
    tenantId: uuid('tenant_id').notNull(),
    userId: uuid('user_id').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    // (tenant_id, id) is the key, and no index leads with id alone: a members page can only be read
    // from this index, in order, so its cost does not depend on other tenants' rows.
    primaryKey({ name: 'memberships_pkey', columns: [t.tenantId, t.id] }),
    unique('memberships_tenant_user_key').on(t.tenantId, t.userId),
    index('memberships_user_id_idx').on(t.userId),
    foreignKey({
      name: 'memberships_tenant_id_fkey',
      columns: [t.tenantId],
      foreignColumns: [tenants.id],
    }).onDelete('cascade'),
    foreignKey({
      name: 'memberships_user_id_fkey',
      columns: [t.userId],
      foreignColumns: [users.id],
    }).onDelete('cascade'),
  ],
);

/** A member's roles; both composite keys hold the link inside one tenant. */
export const memberRoles = pgTable(
  'member_roles',
  {
    tenantId: uuid('tenant_id').notNull(),
    userId: uuid('user_id').notNull(),
    roleId: uuid('role_id').notNull(),
  },
  (t) => [
    primaryKey({ name: 'member_roles_pkey', columns: [t.tenantId, t.userId, t.roleId] }),
    foreignKey({
      name: 'member_roles_membership_fkey',
      columns: [t.tenantId, t.userId],
      foreignColumns: [memberships.tenantId, memberships.userId],
    }).onDelete('cascade'),
    // No cascade: a role still assigned cannot be deleted (409). A whole tenant still goes in one
    // statement, since NO ACTION is checked after the memberships' cascade has run.
    foreignKey({
      name: 'member_roles_role_fkey',
      columns: [t.tenantId, t.roleId],
      foreignColumns: [roles.tenantId, roles.id],
    }),
    index('member_roles_role_idx').on(t.tenantId, t.roleId),
  ],
);

export type TenantRow = typeof tenants.$inferSelect;
export type RoleRow = typeof roles.$inferSelect;
export type MembershipRow = typeof memberships.$inferSelect;
