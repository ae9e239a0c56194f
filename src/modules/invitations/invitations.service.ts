import type { InvitationRow, UserRow } from '../../db/schema/index.js';
import { addSeconds, type Clock } from '../../domain/clock.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.js';
import { idAt } from '../../domain/ids.js';
import { missingPermissions } from '../../domain/permissions.js';
import { randomToken, sha256 } from '../../domain/secrets.js';
import type { Db, Executor, Tx } from '../../platform/db.js';
import type { TenantAccessView } from '../../platform/http/authorize.js';
import { decodeCursor, type Page, toPage } from '../../platform/pagination.js';
import type { AuditService } from '../audit/audit.service.js';
import type { AuditContext } from '../audit/audit-context.js';
import type { EmailFlowService } from '../auth/email-flows.service.js';
import type { PermissionChange, PermissionResolver } from '../authz/permission-resolver.js';
import { findTenantRoles, permissionsOfRoles } from '../authz/role-permissions.js';
import type { MailOutbox } from '../mail/mail.outbox.js';
import { invitationMail, mailLink } from '../mail/mail.templates.js';
import type { MembershipView } from '../members/members.schemas.js';
import type { MemberService } from '../members/members.service.js';
import type { UserService } from '../users/users.service.js';
import { normalizeEmail } from '../users/users.service.js';
import * as repo from './invitations.repo.js';
import type { CreateInvitation, InvitationStatus, InvitationView } from './invitations.schemas.js';

/** Who acts in the tenant: a user (`userId`) or an API key (`userId` null), as the guard saw them. */
export interface InvitationActor {
  userId: string | null;
  isSuperuser: boolean;
  access: TenantAccessView;
}

/** The path under PUBLIC_URL that invitation links open; the client app serves it. */
export const INVITATION_LINK_PATH = '/invitations/accept';

const invalidInvitation = (path = '/token') =>
  new ValidationError(
    'The invitation is invalid, used or expired',
    [{ path, message: 'is not a valid invitation' }],
    'invitation.invalid',
  );

const emailUnverified = () =>
  new ForbiddenError('email.unverified', 'Verify your email address before answering invitations by id');

function toView(row: repo.InvitationListRow, roles: repo.InvitedRole[], now: Date): InvitationView {
  const status: InvitationStatus = row.status === 'pending' && row.expiresAt <= now ? 'expired' : row.status;
  return {
    id: row.id,
    tenantId: row.tenantId,
    email: row.email,
    roles: roles.map((r) => ({ id: r.id, name: r.name })),
    status,
    invitedBy: row.invitedBy && row.inviterEmail ? { id: row.invitedBy, email: row.inviterEmail } : null,
    expiresAt: row.expiresAt.toISOString(),
    createdAt: row.createdAt.toISOString(),
    acceptedAt: row.acceptedAt?.toISOString() ?? null,
  };
}

const isLive = (row: { status: string; expiresAt: Date }, now: Date) =>
  row.status === 'pending' && row.expiresAt > now;

/**
 * Invitations to a tenant. Tokens are 256-bit, stored as SHA-256, emailed through the outbox in the
 * transaction that issues them. Every answer to an invitation locks its row first, so of any number
 * of concurrent accepts exactly one makes a membership.
 */
export class InvitationService {
  constructor(
    private readonly db: Db,
    private readonly users: UserService,
    private readonly members: MemberService,
    private readonly resolver: PermissionResolver,
    private readonly outbox: MailOutbox,
    private readonly emailFlows: Pick<EmailFlowService, 'markVerified'>,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly options: { publicUrl: string; invitationTtl: number },
  ) {}

  /**
   * Invites `email` to the tenant with `roleIds`, and mails the link.
   * @throws ValidationError validation_failed (a role not of this tenant) · ForbiddenError escalation
   *   (roles granting what the actor lacks; `owner` by a non-owner) · ConflictError member.exists,
   *   invitation.exists
   */
  async create(
    ctx: AuditContext,
    actor: InvitationActor,
    tenantId: string,
    input: CreateInvitation,
  ): Promise<InvitationView> {
    const email = normalizeEmail(input.email);
    const roleIds = [...new Set(input.roleIds)];
    const catalogue = await this.resolver.catalogue();
    const id = await this.db.transaction(async (tx) => {
      const wanted = await findTenantRoles(tx, tenantId, roleIds);
      if (wanted.length !== roleIds.length) {
        const found = new Set(wanted.map((r) => r.id));
        throw new ValidationError('Every role must be a role of this tenant', [
          {
            path: '/roleIds',
            message: `are not roles of this tenant: ${roleIds.filter((r) => !found.has(r)).join(', ')}`,
          },
        ]);
      }
      await this.#assertMayGrant(tx, actor, tenantId, wanted, catalogue);
      const existing = await this.users.findByEmail(email, tx);
      if (existing && (await this.#isMember(tx, tenantId, existing.id))) {
        throw new ConflictError('member.exists', 'This person is already a member of the tenant');
      }
      const now = this.clock.now();
      await repo.expireStale(tx, tenantId, email, now);
      const token = randomToken(32);
      const row = await repo.insertInvitation(
        tx,
        {
          id: idAt(now),
          tenantId,
          email,
          tokenHash: sha256(token),
          invitedBy: actor.userId,
          expiresAt: addSeconds(now, this.options.invitationTtl),
          createdAt: now,
          updatedAt: now,
        },
        roleIds,
      );
      await this.#mail(tx, row, token);
      await this.audit.record(tx, ctx, {
        tenantId,
        action: 'invitation.created',
        target: { type: 'invitation', id: row.id },
        metadata: { email, roleIds, expiresAt: row.expiresAt.toISOString() },
      });
      return row.id;
    });
    this.outbox.onEnqueued();
    return this.#view(this.db, id);
  }

  /** The tenant's invitations, newest first; `status` filters (a pending one past expiry is `expired`). */
  async list(
    tenantId: string,
    query: { status?: InvitationStatus | undefined; cursor?: string | undefined; limit: number },
  ): Promise<Page<InvitationView>> {
    const now = this.clock.now();
    const rows = await repo.listPage(this.db, tenantId, {
      status: query.status,
      before: decodeCursor(query.cursor),
      limit: query.limit,
      now,
    });
    return this.#page(rows, query.limit, now);
  }

  /**
   * Revokes a pending invitation; its token stops working.
   * @throws NotFoundError · ConflictError invitation.not_pending · ForbiddenError escalation (an
   *   invitation to `owner`, by a non-owner)
   */
  async revoke(ctx: AuditContext, actor: InvitationActor, tenantId: string, id: string): Promise<void> {
    const catalogue = await this.resolver.catalogue();
    await this.db.transaction(async (tx) => {
      const row = await repo.lockInTenant(tx, tenantId, id);
      if (!row) throw new NotFoundError('Invitation not found');
      if (row.status !== 'pending') throw notPending();
      const roles = (await repo.rolesOfInvitations(tx, [id])).get(id) ?? [];
      if (roles.some((r) => r.builtIn === 'owner'))
        await this.#assertMayGrant(tx, actor, tenantId, roles, catalogue);
      await repo.updateInvitation(tx, id, { status: 'revoked', updatedAt: this.clock.now() });
      await this.audit.record(tx, ctx, {
        tenantId,
        action: 'invitation.revoked',
        target: { type: 'invitation', id },
        metadata: { email: row.email },
      });
    });
  }

  /**
   * A new token (the old one dies) and a new expiry, mailed again. Works on pending and expired
   * invitations.
   * @throws NotFoundError · ConflictError invitation.not_pending, invitation.exists ·
   *   ForbiddenError escalation
   */
  async resend(
    ctx: AuditContext,
    actor: InvitationActor,
    tenantId: string,
    id: string,
  ): Promise<InvitationView> {
    const catalogue = await this.resolver.catalogue();
    await this.db.transaction(async (tx) => {
      const row = await repo.lockInTenant(tx, tenantId, id);
      if (!row) throw new NotFoundError('Invitation not found');
      if (row.status !== 'pending' && row.status !== 'expired') throw notPending();
      const roles = (await repo.rolesOfInvitations(tx, [id])).get(id) ?? [];
      await this.#assertMayGrant(tx, actor, tenantId, roles, catalogue);
      const now = this.clock.now();
      const token = randomToken(32);
      const updated = await repo.updateInvitation(tx, id, {
        status: 'pending',
        tokenHash: sha256(token),
        expiresAt: addSeconds(now, this.options.invitationTtl),
        updatedAt: now,
      });
      await this.#mail(tx, updated, token);
      await this.audit.record(tx, ctx, {
        tenantId,
        action: 'invitation.resent',
        target: { type: 'invitation', id },
        metadata: { email: row.email, expiresAt: updated.expiresAt.toISOString() },
      });
    });
    this.outbox.onEnqueued();
    return this.#view(this.db, id);
  }

  /**
   * Accepts by token, for the signed-in user whose email is the invitation's. The token itself proves
   * control of the address (it was only ever mailed there), so the user's email need not be verified
   * yet and is marked verified by the accept.
   * @throws ValidationError invitation.invalid · ForbiddenError invitation.email_mismatch ·
   *   ConflictError member.exists
   */
  async acceptByToken(ctx: AuditContext, userId: string, token: string): Promise<MembershipView> {
    const user = await this.users.get(userId);
    return this.#answer(
      async (tx) => {
        const row = await repo.lockByTokenHash(tx, sha256(token));
        if (!row || !isLive(row, this.clock.now())) throw invalidInvitation();
        if (row.email !== normalizeEmail(user.email)) {
          throw new ForbiddenError(
            'invitation.email_mismatch',
            'This invitation was sent to another email address',
          );
        }
        if (!user.emailVerified) await this.emailFlows.markVerified(tx, user.id, row.email);
        return row;
      },
      user.id,
      ctx,
    );
  }

  /**
   * Accepts by id, for its addressee, whose email must be verified: without a token, only a verified
   * address proves it is theirs (better-auth CVE-2026-53514).
   * @throws NotFoundError · ForbiddenError email.unverified · ConflictError member.exists
   */
  async acceptById(ctx: AuditContext, userId: string, id: string): Promise<MembershipView> {
    const user = await this.#verifiedUser(userId);
    return this.#answer(
      async (tx) => {
        const row = await repo.lockAddressedTo(tx, id, normalizeEmail(user.email));
        if (!row || !isLive(row, this.clock.now())) throw new NotFoundError('Invitation not found');
        return row;
      },
      user.id,
      ctx,
    );
  }

  /** @throws NotFoundError · ForbiddenError email.unverified */
  async decline(ctx: AuditContext, userId: string, id: string): Promise<void> {
    const user = await this.#verifiedUser(userId);
    await this.db.transaction(async (tx) => {
      const row = await repo.lockAddressedTo(tx, id, normalizeEmail(user.email));
      if (!row || !isLive(row, this.clock.now())) throw new NotFoundError('Invitation not found');
      await repo.updateInvitation(tx, id, { status: 'declined', updatedAt: this.clock.now() });
      await this.audit.record(tx, ctx, {
        tenantId: row.tenantId,
        action: 'invitation.declined',
        target: { type: 'invitation', id },
        metadata: { email: row.email },
      });
    });
  }

  /** Live invitations addressed to the user; none while their email is unverified. */
  async mine(
    userId: string,
    query: { cursor?: string | undefined; limit: number },
  ): Promise<Page<InvitationView>> {
    const user = await this.users.get(userId);
    if (!user.emailVerified) return { data: [], nextCursor: null };
    const now = this.clock.now();
    const rows = await repo.pendingForEmail(this.db, normalizeEmail(user.email), {
      before: decodeCursor(query.cursor),
      limit: query.limit,
      now,
    });
    return this.#page(rows, query.limit, now);
  }

  // --- sign-up with an invitation token (AuthService.register) ---

  /** The email of the live invitation the token belongs to. */
  async peek(token: string): Promise<{ email: string } | undefined> {
    const row = await repo.findByTokenHash(this.db, sha256(token));
    return row && isLive(row, this.clock.now()) ? { email: row.email } : undefined;
  }

  /**
   * Accepts the invitation for a user created in the same transaction.
   * @throws ValidationError invitation.invalid (used or revoked since `peek`)
   */
  async acceptForNewUser(ctx: AuditContext, tx: Tx, token: string, user: UserRow): Promise<() => void> {
    const row = await repo.lockByTokenHash(tx, sha256(token));
    if (!row || !isLive(row, this.clock.now()) || row.email !== normalizeEmail(user.email)) {
      throw invalidInvitation('/invitationToken');
    }
    const change = await this.#grant(tx, row, user.id, ctx);
    return () => this.resolver.apply(change);
  }

  async #answer(
    lock: (tx: Tx) => Promise<InvitationRow>,
    userId: string,
    ctx: AuditContext,
  ): Promise<MembershipView> {
    let change: PermissionChange | undefined;
    const view = await this.db.transaction(async (tx) => {
      const row = await lock(tx);
      change = await this.#grant(tx, row, userId, ctx);
      return this.members.get(row.tenantId, userId, tx);
    });
    if (change) this.resolver.apply(change);
    return view;
  }

  /** Marks the locked invitation accepted and makes the membership. */
  async #grant(
    tx: Tx,
    row: { id: string; tenantId: string },
    userId: string,
    ctx: AuditContext,
  ): Promise<PermissionChange> {
    const now = this.clock.now();
    let roleIds = ((await repo.rolesOfInvitations(tx, [row.id])).get(row.id) ?? []).map((r) => r.id);
    // Every role it named was deleted since: the invitee still joins, as a plain member.
    if (roleIds.length === 0) roleIds = await repo.builtInRoleIds(tx, row.tenantId, 'member');
    await repo.updateInvitation(tx, row.id, {
      status: 'accepted',
      acceptedAt: now,
      acceptedBy: userId,
      updatedAt: now,
    });
    const change = await this.members.addMember(tx, row.tenantId, userId, roleIds);
    // One entry: accepting makes the membership, so it stands for both.
    await this.audit.record(tx, ctx, {
      tenantId: row.tenantId,
      action: 'invitation.accepted',
      target: { type: 'invitation', id: row.id },
      metadata: { userId, roleIds },
    });
    return change;
  }

  async #verifiedUser(userId: string): Promise<UserRow> {
    const user = await this.users.get(userId);
    if (!user.emailVerified) throw emailUnverified();
    return user;
  }

  async #isMember(tx: Executor, tenantId: string, userId: string): Promise<boolean> {
    try {
      await this.members.get(tenantId, userId, tx);
      return true;
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
  }

  /**
   * Nobody invites to roles granting what they do not hold, and only owners invite to `owner`
   * (the members rules, applied to the grant the invitation will make).
   */
  async #assertMayGrant(
    tx: Executor,
    actor: InvitationActor,
    tenantId: string,
    wanted: { id: string; builtIn: string | null }[],
    catalogue: string[],
  ): Promise<void> {
    if (actor.isSuperuser) return;
    if (wanted.some((r) => r.builtIn === 'owner') && !actor.access.isOwner) {
      throw new ForbiddenError('escalation', 'Only owners can invite to the owner role');
    }
    const granted = await permissionsOfRoles(
      tx,
      tenantId,
      wanted.map((r) => ({ id: r.id, builtIn: r.builtIn as never })),
      catalogue,
    );
    const missing = missingPermissions(actor.access.permissions, granted);
    if (missing.length > 0) {
      throw new ForbiddenError(
        'escalation',
        `You cannot grant permissions you do not hold: ${missing.join(', ')}`,
      );
    }
  }

  async #mail(
    tx: Executor,
    row: { tenantId: string; email: string; invitedBy: string | null; expiresAt: Date },
    token: string,
  ) {
    const inviter = row.invitedBy
      ? await this.users.get(row.invitedBy, tx).catch(() => undefined)
      : undefined;
    const rendered = invitationMail({
      link: mailLink(this.options.publicUrl, INVITATION_LINK_PATH, token),
      tenantName: (await repo.tenantName(tx, row.tenantId)) ?? 'a tenant',
      inviterEmail: inviter?.email ?? null,
      expiresAt: row.expiresAt,
    });
    await this.outbox.enqueue(tx, { ...rendered, kind: 'invitation', to: row.email });
  }

  async #view(tx: Executor, id: string): Promise<InvitationView> {
    const row = await repo.findWithInviter(tx, id);
    if (!row) throw new NotFoundError('Invitation not found');
    const roles = (await repo.rolesOfInvitations(tx, [id])).get(id) ?? [];
    return toView(row, roles, this.clock.now());
  }

  async #page(rows: repo.InvitationListRow[], limit: number, now: Date): Promise<Page<InvitationView>> {
    const page = toPage(rows, limit, (row) => row);
    const roles = await repo.rolesOfInvitations(
      this.db,
      page.data.map((r) => r.id),
    );
    return { data: page.data.map((r) => toView(r, roles.get(r.id) ?? [], now)), nextCursor: page.nextCursor };
  }
}

const notPending = () => new ConflictError('invitation.not_pending', 'The invitation is no longer pending');
