import type { Clock } from '../../domain/clock.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.js';
import { missingPermissions } from '../../domain/permissions.js';
import type { Db, Executor, Tx } from '../../platform/db.js';
import type { TenantAccessView } from '../../platform/http/authorize.js';
import { decodeCursor, type Page, toPage } from '../../platform/pagination.js';
import type { AuditService } from '../audit/audit.service.js';
import type { AuditContext } from '../audit/audit-context.js';
import type { PermissionChange, PermissionResolver } from '../authz/permission-resolver.js';
import { findTenantRoles, permissionsOfRoles } from '../authz/role-permissions.js';
import type { RoleName, RoleNames } from '../roles/role-names.js';
import type { RoleRef } from '../tenants/tenants.schemas.js';
import * as repo from './members.repo.js';
import type { MembershipView } from './members.schemas.js';

/** Who is asking, as the tenant guard saw them: their id (for self checks) and their access. */
export interface Actor {
  userId: string;
  isSuperuser: boolean;
  access: TenantAccessView;
}

const memberChange = (tenantId: string, userId: string): PermissionChange => `member:${tenantId}:${userId}`;

function toMembershipView(
  row: Pick<repo.MemberRow, 'user'> & { createdAt: Date | string },
  roles: RoleRef[],
): MembershipView {
  const { createdAt } = row;
  return {
    user: row.user,
    roles,
    createdAt: typeof createdAt === 'string' ? createdAt : createdAt.toISOString(),
  };
}

/**
 * The roles of `ids` in the order every view lists them (by name, then id, as the database sorts);
 * an id deleted since the page was read is left out.
 */
function namedRoles(ids: string[], names: Map<string, RoleName>): RoleRef[] {
  const held = ids.map((id) => names.get(id));
  const known = held.every(isKnown) ? held : held.filter(isKnown);
  // Most members hold one role, and sorting even one element copies the array.
  if (known.length > 1) known.sort((a, b) => a.rank - b.rank);
  return known.map((role) => role.ref);
}

const isKnown = (role: RoleName | undefined): role is RoleName => role !== undefined;

const isOwnerRole = (role: Pick<repo.HeldRole, 'builtIn'>) => role.builtIn === 'owner';

/**
 * A tenant's members and their roles. Every change publishes a permission change in its transaction
 * and applies it here after commit, so the next request, on any instance, sees it.
 * Invariants: a tenant keeps at least one owner; nobody grants a permission they lack; only owners
 * grant or revoke `owner`.
 */
export class MemberService {
  constructor(
    private readonly db: Db,
    private readonly resolver: PermissionResolver,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly roleNames: RoleNames,
  ) {}

  /**
   * Makes `userId` a member holding `roleIds` (roles of this tenant, not checked here: the composite
   * foreign keys refuse any other), in the caller's transaction. The caller applies the returned
   * change after commit (`resolver.apply`), so this instance forgets that the user was no member.
   */
  async addMember(
    tx: Executor,
    tenantId: string,
    userId: string,
    roleIds: string[],
  ): Promise<PermissionChange> {
    await repo.insertMembership(tx, { tenantId, userId, createdAt: this.clock.now() });
    await repo.insertMemberRoles(tx, tenantId, userId, [...new Set(roleIds)]);
    const change = memberChange(tenantId, userId);
    await this.resolver.publish(tx, change);
    return change;
  }

  /** addMember in a transaction of its own. */
  async add(tenantId: string, userId: string, roleIds: string[]): Promise<MembershipView> {
    const change = await this.db.transaction((tx) => this.addMember(tx, tenantId, userId, roleIds));
    this.resolver.apply(change);
    return this.get(tenantId, userId);
  }

  /** Members newest first; `q` searches email and name. */
  async list(
    tenantId: string,
    query: { q?: string | undefined; cursor?: string | undefined; limit: number },
  ): Promise<Page<MembershipView>> {
    const rows = await repo.membersPage(this.db, tenantId, {
      q: query.q,
      before: decodeCursor(query.cursor),
      limit: query.limit,
    });
    const names = await this.roleNames.of(
      tenantId,
      rows.flatMap((row) => row.roleIds),
    );
    return toPage(rows, query.limit, (row) => toMembershipView(row, namedRoles(row.roleIds, names)));
  }

  /** @throws NotFoundError when the user is not a member */
  async get(tenantId: string, userId: string, tx: Executor = this.db): Promise<MembershipView> {
    const row = await repo.findMember(tx, tenantId, userId);
    if (!row) throw new NotFoundError('Member not found');
    const roles = await repo.rolesOfMembers(tx, tenantId, [userId]);
    return toMembershipView(
      row,
      (roles.get(userId) ?? []).map((role) => ({ id: role.id, name: role.name })),
    );
  }

  /**
   * The member's effective permission keys, sorted.
   * @throws NotFoundError when the user is not a member
   */
  async permissions(tenantId: string, userId: string): Promise<string[]> {
    const access = await this.resolver.forMember(tenantId, userId);
    if (!access) throw new NotFoundError('Member not found');
    return [...access.permissions].sort();
  }

  /**
   * Replaces the member's roles with `roleIds`.
   * @throws ValidationError validation_failed (a role id not of this tenant) · NotFoundError ·
   *   ForbiddenError escalation (granting a permission the actor lacks; `owner` by a non-owner) ·
   *   ConflictError last_owner
   */
  async setRoles(
    ctx: AuditContext,
    actor: Actor,
    tenantId: string,
    userId: string,
    roleIds: string[],
  ): Promise<MembershipView> {
    const wantedIds = [...new Set(roleIds)];
    const change = memberChange(tenantId, userId);
    // Read before the transaction: a pool query inside it, while it holds the tenant lock, could wait
    // for a connection that only the transactions queued behind that lock would give back.
    const catalogue = await this.resolver.catalogue();
    const view = await this.db.transaction(async (tx) => {
      const wanted = await findTenantRoles(tx, tenantId, wantedIds);
      if (wanted.length !== wantedIds.length) {
        const found = new Set(wanted.map((r) => r.id));
        const unknown = wantedIds.filter((id) => !found.has(id));
        throw new ValidationError('Every role must be a role of this tenant', [
          { path: '/roleIds', message: `are not roles of this tenant: ${unknown.join(', ')}` },
        ]);
      }
      if (!(await repo.lockTenant(tx, tenantId))) throw new NotFoundError('Tenant not found');
      if (!(await repo.findMember(tx, tenantId, userId))) throw new NotFoundError('Member not found');
      const current = (await repo.rolesOfMembers(tx, tenantId, [userId])).get(userId) ?? [];
      const currentIds = new Set(current.map((r) => r.id));
      const wantedSet = new Set(wantedIds);
      const added = wanted.filter((r) => !currentIds.has(r.id));
      const removed = current.filter((r) => !wantedSet.has(r.id));

      if ([...added, ...removed].some(isOwnerRole)) await this.#assertOwner(tx, actor, tenantId);
      await this.#assertNoEscalation(tx, actor, tenantId, added, catalogue);
      if (removed.some(isOwnerRole)) await this.#assertAnotherOwner(tx, tenantId);

      await repo.deleteMemberRoles(
        tx,
        tenantId,
        userId,
        removed.map((r) => r.id),
      );
      await repo.insertMemberRoles(
        tx,
        tenantId,
        userId,
        added.map((r) => r.id),
      );
      await this.resolver.publish(tx, change);
      const view = await this.get(tenantId, userId, tx);
      await this.audit.record(tx, ctx, {
        tenantId,
        action: 'member.roles_replaced',
        target: { type: 'user', id: userId },
        metadata: {
          roleIds: view.roles.map((r) => r.id),
          added: added.map((r) => r.id),
          removed: removed.map((r) => r.id),
        },
      });
      return view;
    });
    this.resolver.apply(change);
    return view;
  }

  /**
   * Ends a membership: removal by someone with members:remove, or the member leaving.
   * @throws NotFoundError · ForbiddenError escalation (removing an owner as a non-owner) ·
   *   ConflictError last_owner
   */
  async remove(ctx: AuditContext, actor: Actor, tenantId: string, userId: string): Promise<void> {
    const change = memberChange(tenantId, userId);
    await this.db.transaction(async (tx) => {
      if (!(await repo.lockTenant(tx, tenantId))) throw new NotFoundError('Tenant not found');
      if (!(await repo.findMember(tx, tenantId, userId))) throw new NotFoundError('Member not found');
      const current = (await repo.rolesOfMembers(tx, tenantId, [userId])).get(userId) ?? [];
      if (current.some(isOwnerRole)) {
        // Removing an owner revokes `owner`: only owners may (an owner leaving is one).
        await this.#assertOwner(tx, actor, tenantId);
        await this.#assertAnotherOwner(tx, tenantId);
      }
      await repo.deleteMembership(tx, tenantId, userId);
      await this.resolver.publish(tx, change);
      await this.audit.record(tx, ctx, {
        tenantId,
        action: ctx.actor.id === userId ? 'member.left' : 'member.removed',
        target: { type: 'user', id: userId },
        metadata: { roleIds: current.map((r) => r.id) },
      });
    });
    this.resolver.apply(change);
  }

  /**
   * Runs in the transaction that deletes a user, before the row goes. A user deleting their own
   * account is refused while they are the only owner of a tenant; either way every membership's
   * change is published. Answers what to run after commit.
   * @throws ConflictError sole_owner
   */
  async beforeUserDeletion(tx: Tx, userId: string, options: { self: boolean }): Promise<() => void> {
    // The user's row first: no new membership can appear while we look. Then every tenant they are
    // in, so their roles there, and the other owners, stay as counted until commit.
    await repo.lockUser(tx, userId);
    const { tenantIds, soleOwnerOf } = await repo.lockTenantsOfUser(tx, userId);
    if (options.self && soleOwnerOf.length > 0) {
      throw new ConflictError(
        'sole_owner',
        `You are the only owner of ${soleOwnerOf.length === 1 ? 'a tenant' : `${soleOwnerOf.length} tenants`} (${soleOwnerOf.join(', ')}): make someone else an owner or delete it first`,
      );
    }
    const changes = tenantIds.map((tenantId) => memberChange(tenantId, userId));
    for (const change of changes) await this.resolver.publish(tx, change);
    return () => {
      for (const change of changes) this.resolver.apply(change);
    };
  }

  /**
   * Only owners grant or revoke `owner`. Checked against the actor's roles as they are now, under
   * the tenant lock: the guard's view is from before it, and a concurrent demotion may have ended it.
   */
  async #assertOwner(tx: Executor, actor: Actor, tenantId: string): Promise<void> {
    if (actor.isSuperuser) return;
    const own = (await repo.rolesOfMembers(tx, tenantId, [actor.userId])).get(actor.userId) ?? [];
    if (!actor.access.isOwner || !own.some(isOwnerRole)) {
      throw new ForbiddenError('escalation', 'Only owners can grant or revoke the owner role');
    }
  }

  /** Nobody hands out a permission they do not hold themselves. Superusers hold them all. */
  async #assertNoEscalation(
    tx: Executor,
    actor: Actor,
    tenantId: string,
    added: Pick<repo.HeldRole, 'id' | 'builtIn'>[],
    catalogue: string[],
  ): Promise<void> {
    if (actor.isSuperuser || added.length === 0) return;
    const granted = await permissionsOfRoles(tx, tenantId, added, catalogue);
    const missing = missingPermissions(actor.access.permissions, granted);
    if (missing.length > 0) {
      throw new ForbiddenError(
        'escalation',
        `You cannot grant permissions you do not hold: ${missing.join(', ')}`,
      );
    }
  }

  /** The caller holds the tenant lock and is about to take `owner` from one member. */
  async #assertAnotherOwner(tx: Executor, tenantId: string): Promise<void> {
    if ((await repo.countOwners(tx, tenantId)) <= 1) {
      throw new ConflictError('last_owner', 'A tenant must keep at least one owner');
    }
  }
}
