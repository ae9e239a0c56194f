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
import { createdAt, id, timestamptz, updatedAt } from './columns.js';
import { roles, tenants } from './tenants.js';
import { users } from './users.js';

/** `expired` is written lazily (a pending row past its expiry is shown as expired before that). */
export const invitationStatus = pgEnum('invitation_status', [
  'pending',
  'accepted',
  'declined',
  'revoked',
  'expired',
]);

export const invitations = pgTable(
  'invitations',
  {
    /** UUIDv7: lists are keyset-paginated on it, newest first. */
    id: id(),
    tenantId: uuid('tenant_id').notNull(),
    /** Stored lower-cased. */
    email: text('email').notNull(),
    status: invitationStatus('status').notNull().default('pending'),
    /** SHA-256 of the emailed token; replaced on resend, so the old token dies. */
    tokenHash: text('token_hash').notNull(),
    invitedBy: uuid('invited_by'),
    acceptedBy: uuid('accepted_by'),
    expiresAt: timestamptz('expires_at').notNull(),
    acceptedAt: timestamptz('accepted_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    // One pending invitation per (tenant, email): concurrent duplicate invites cannot both insert.
    uniqueIndex('invitations_pending_email_key')
      .on(t.tenantId, sql`lower(${t.email})`)
      .where(sql`${t.status} = 'pending'`),
    uniqueIndex('invitations_token_hash_key').on(t.tokenHash),
    unique('invitations_tenant_id_id_key').on(t.tenantId, t.id),
    index('invitations_email_pending_idx').on(sql`lower(${t.email})`).where(sql`${t.status} = 'pending'`),
    foreignKey({
      name: 'invitations_tenant_id_fkey',
      columns: [t.tenantId],
      foreignColumns: [tenants.id],
    }).onDelete('cascade'),
    foreignKey({
      name: 'invitations_invited_by_fkey',
      columns: [t.invitedBy],
      foreignColumns: [users.id],
    }).onDelete('set null'),
    foreignKey({
      name: 'invitations_accepted_by_fkey',
      columns: [t.acceptedBy],
      foreignColumns: [users.id],
    }).onDelete('set null'),
  ],
);

/** The roles an invitation grants; composite keys keep them inside the invitation's tenant. */
export const invitationRoles = pgTable(
  'invitation_roles',
  {
    tenantId: uuid('tenant_id').notNull(),
    invitationId: uuid('invitation_id').notNull(),
    roleId: uuid('role_id').notNull(),
  },
  (t) => [
    primaryKey({ name: 'invitation_roles_pkey', columns: [t.invitationId, t.roleId] }),
    foreignKey({
      name: 'invitation_roles_invitation_fkey',
      columns: [t.tenantId, t.invitationId],
      foreignColumns: [invitations.tenantId, invitations.id],
    }).onDelete('cascade'),
    // A deleted role simply leaves the invitations that named it (accepting one left with no role
    // grants the built-in member role), so deleting a role is never blocked by an invitation.
    foreignKey({
      name: 'invitation_roles_role_fkey',
      columns: [t.tenantId, t.roleId],
      foreignColumns: [roles.tenantId, roles.id],
    }).onDelete('cascade'),
    index('invitation_roles_role_idx').on(t.tenantId, t.roleId),
  ],
);

export type InvitationRow = typeof invitations.$inferSelect;
