import { and, asc, desc, eq, gt, inArray, lt, lte, or, sql } from 'drizzle-orm';
import {
  type InvitationRow,
  invitationRoles,
  invitations,
  roles,
  tenants,
  users,
} from '../../db/schema/index.js';
import { ConflictError } from '../../domain/errors.js';
import type { Executor } from '../../platform/db.js';
import { pageLimit } from '../../platform/pagination.js';
import { isUniqueViolation } from '../../platform/pg-errors.js';
import type { InvitationStatus } from './invitations.schemas.js';

export interface InvitationListRow extends InvitationRow {
  inviterEmail: string | null;
}

const listColumns = {
  id: invitations.id,
  tenantId: invitations.tenantId,
  email: invitations.email,
  status: invitations.status,
  tokenHash: invitations.tokenHash,
  invitedBy: invitations.invitedBy,
  acceptedBy: invitations.acceptedBy,
  expiresAt: invitations.expiresAt,
  acceptedAt: invitations.acceptedAt,
  createdAt: invitations.createdAt,
  updatedAt: invitations.updatedAt,
  inviterEmail: users.email,
};

/** @throws ConflictError invitation.exists when a pending invitation for the email exists (the partial unique index) */
export async function insertInvitation(
  tx: Executor,
  values: typeof invitations.$inferInsert,
  roleIds: string[],
): Promise<InvitationRow> {
  try {
    const [row] = await tx.insert(invitations).values(values).returning();
    await tx
      .insert(invitationRoles)
      .values(roleIds.map((roleId) => ({ tenantId: values.tenantId, invitationId: row!.id, roleId })));
    return row!;
  } catch (error) {
    if (isUniqueViolation(error, 'invitations_pending_email_key')) throw pendingExists();
    throw error;
  }
}

export const pendingExists = () =>
  new ConflictError('invitation.exists', 'A pending invitation for this email already exists');

/** Pending invitations of this email in this tenant that are past their expiry become `expired`. */
export async function expireStale(tx: Executor, tenantId: string, email: string, now: Date): Promise<void> {
  await tx
    .update(invitations)
    .set({ status: 'expired', updatedAt: now })
    .where(
      and(
        eq(invitations.tenantId, tenantId),
        sql`lower(${invitations.email}) = ${email}`,
        eq(invitations.status, 'pending'),
        lte(invitations.expiresAt, now),
      ),
    );
}

/** The invitation with this token hash, locked until the transaction ends. */
export async function lockByTokenHash(tx: Executor, tokenHash: string): Promise<InvitationRow | undefined> {
  const [row] = await tx.select().from(invitations).where(eq(invitations.tokenHash, tokenHash)).for('update');
  return row;
}

export async function findByTokenHash(tx: Executor, tokenHash: string): Promise<InvitationRow | undefined> {
  const [row] = await tx.select().from(invitations).where(eq(invitations.tokenHash, tokenHash));
  return row;
}

/** One invitation of the tenant, locked. */
export async function lockInTenant(
  tx: Executor,
  tenantId: string,
  id: string,
): Promise<InvitationRow | undefined> {
  const [row] = await tx
    .select()
    .from(invitations)
    .where(and(eq(invitations.tenantId, tenantId), eq(invitations.id, id)))
    .for('update');
  return row;
}

/** One invitation by id addressed to `email`, locked. */
export async function lockAddressedTo(
  tx: Executor,
  id: string,
  email: string,
): Promise<InvitationRow | undefined> {
  const [row] = await tx
    .select()
    .from(invitations)
    .where(and(eq(invitations.id, id), sql`lower(${invitations.email}) = ${email}`))
    .for('update');
  return row;
}

/**
 * @throws ConflictError invitation.exists when reviving it (resend of an expired one) clashes with
 *   another pending invitation
 */
export async function updateInvitation(
  tx: Executor,
  id: string,
  values: Partial<typeof invitations.$inferInsert>,
): Promise<InvitationRow> {
  try {
    const [row] = await tx.update(invitations).set(values).where(eq(invitations.id, id)).returning();
    return row!;
  } catch (error) {
    if (isUniqueViolation(error, 'invitations_pending_email_key')) throw pendingExists();
    throw error;
  }
}

/** The status filter as SQL: a pending row past its expiry counts as expired. */
function statusFilter(status: InvitationStatus | undefined, now: Date) {
  if (status === undefined) return undefined;
  if (status === 'pending') return and(eq(invitations.status, 'pending'), gt(invitations.expiresAt, now));
  if (status === 'expired')
    return or(
      eq(invitations.status, 'expired'),
      and(eq(invitations.status, 'pending'), lte(invitations.expiresAt, now)),
    );
  return eq(invitations.status, status);
}

/** A page of the tenant's invitations, newest first: keyset on (tenant_id, id). */
export function listPage(
  tx: Executor,
  tenantId: string,
  options: { status?: InvitationStatus | undefined; before?: string | undefined; limit: number; now: Date },
): Promise<InvitationListRow[]> {
  return tx
    .select(listColumns)
    .from(invitations)
    .leftJoin(users, eq(users.id, invitations.invitedBy))
    .where(
      and(
        eq(invitations.tenantId, tenantId),
        // As in membersPageQuery: ordered by (tenant_id, id) so only the composite index serves it.
        options.before ? lt(invitations.id, options.before) : undefined,
        statusFilter(options.status, options.now),
      ),
    )
    .orderBy(desc(invitations.tenantId), desc(invitations.id))
    .limit(pageLimit(options.limit));
}

/** Live pending invitations addressed to `email`, newest first. */
export function pendingForEmail(
  tx: Executor,
  email: string,
  options: { before?: string | undefined; limit: number; now: Date },
): Promise<InvitationListRow[]> {
  return tx
    .select(listColumns)
    .from(invitations)
    .leftJoin(users, eq(users.id, invitations.invitedBy))
    .where(
      and(
        sql`lower(${invitations.email}) = ${email}`,
        eq(invitations.status, 'pending'),
        gt(invitations.expiresAt, options.now),
        options.before ? sql`${invitations.id} < ${options.before}::uuid` : undefined,
      ),
    )
    .orderBy(desc(invitations.id))
    .limit(pageLimit(options.limit));
}

export async function findWithInviter(tx: Executor, id: string): Promise<InvitationListRow | undefined> {
  const [row] = await tx
    .select(listColumns)
    .from(invitations)
    .leftJoin(users, eq(users.id, invitations.invitedBy))
    .where(eq(invitations.id, id));
  return row;
}

export interface InvitedRole {
  id: string;
  name: string;
  builtIn: 'owner' | 'admin' | 'member' | null;
}

/** The roles each invitation grants, by invitation id, each list by name. */
export async function rolesOfInvitations(tx: Executor, ids: string[]): Promise<Map<string, InvitedRole[]>> {
  const byInvitation = new Map<string, InvitedRole[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return byInvitation;
  const rows = await tx
    .select({
      invitationId: invitationRoles.invitationId,
      id: roles.id,
      name: roles.name,
      builtIn: roles.builtIn,
    })
    .from(invitationRoles)
    .innerJoin(roles, and(eq(roles.tenantId, invitationRoles.tenantId), eq(roles.id, invitationRoles.roleId)))
    .where(inArray(invitationRoles.invitationId, ids))
    .orderBy(asc(roles.name), asc(roles.id));
  for (const { invitationId, ...role } of rows) byInvitation.get(invitationId)?.push(role);
  return byInvitation;
}

export async function tenantName(tx: Executor, tenantId: string): Promise<string | undefined> {
  const [row] = await tx.select({ name: tenants.name }).from(tenants).where(eq(tenants.id, tenantId));
  return row?.name;
}

/** The ids of the tenant's built-in role `kind`. */
export async function builtInRoleIds(
  tx: Executor,
  tenantId: string,
  kind: 'owner' | 'admin' | 'member',
): Promise<string[]> {
  const rows = await tx
    .select({ id: roles.id })
    .from(roles)
    .where(and(eq(roles.tenantId, tenantId), eq(roles.builtIn, kind)));
  return rows.map((r) => r.id);
}
