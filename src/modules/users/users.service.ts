import { sql } from 'drizzle-orm';
import type { UserRow } from '../../db/schema/index.js';
import type { Clock } from '../../domain/clock.js';
import { ConflictError, NotFoundError, UnauthenticatedError } from '../../domain/errors.js';
import { idAt } from '../../domain/ids.js';
import { assertAcceptablePassword } from '../../domain/password-policy.js';
import type { UserPrincipal } from '../../domain/principal.js';
import type { Db, Executor, Tx } from '../../platform/db.js';
import { decodeCursor, type Page, toPage } from '../../platform/pagination.js';
import type { AuditService } from '../audit/audit.service.js';
import type { AuditContext } from '../audit/audit-context.js';
import type { PasswordHasher } from '../auth/passwords.js';
import type { SessionService } from '../auth/sessions.service.js';
import * as repo from './users.repo.js';
import { type CreateUser, toUserView, type UpdateUser, type UserView } from './users.schemas.js';

/** Serialises changes that could remove the last active superuser. */
const SUPERUSER_LOCK = 0x7e55e7c;

/** Held until the transaction ends; every check-then-change of the superuser set takes it. */
async function lockSuperusers(tx: Executor): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${SUPERUSER_LOCK})`);
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * Runs in the transaction that deletes a user, before the row goes; may refuse (throw). `self` when
 * the user deletes their own account. Answers what to run after commit. The container sets it (the
 * members module: 409 sole_owner, cache invalidation); the default does nothing.
 */
export type UserDeletionHook = (tx: Tx, userId: string, options: { self: boolean }) => Promise<() => void>;

/** Users: the caller's own account, and platform administration by superusers. */
export class UserService {
  beforeDelete: UserDeletionHook = async () => () => {};

  constructor(
    private readonly db: Db,
    private readonly hasher: PasswordHasher,
    private readonly sessions: SessionService,
    private readonly clock: Clock,
    private readonly audit: AuditService,
  ) {}

  /** @throws NotFoundError */
  async get(id: string, tx: Executor = this.db): Promise<UserRow> {
    const user = await repo.findUserById(tx, id);
    if (!user) throw new NotFoundError('User not found');
    return user;
  }

  findByEmail(email: string, tx: Executor = this.db): Promise<UserRow | undefined> {
    return repo.findUserByEmail(tx, normalizeEmail(email));
  }

  /**
   * Creates an account with a checked, hashed password, in the caller's transaction.
   * @throws ValidationError password.too_common · ConflictError conflict (email taken)
   */
  async create(
    tx: Executor,
    input: {
      email: string;
      password: string;
      name?: string | null;
      isSuperuser?: boolean;
      emailVerified?: boolean;
    },
  ): Promise<UserRow> {
    assertAcceptablePassword(input.password);
    const email = normalizeEmail(input.email);
    // Hash before touching the database, so the transaction is not held open for it.
    const passwordHash = await this.hasher.hash(input.password);
    const now = this.clock.now();
    return repo.insertUser(tx, {
      // Made by the column default a moment after `now`, the id could fall in the next millisecond,
      // and a list ordered by id (newest first) would show a user above an earlier neighbour with a
      // createdAt a millisecond before the neighbour's.
      id: idAt(now),
      email,
      name: input.name ?? null,
      passwordHash,
      isSuperuser: input.isSuperuser ?? false,
      emailVerified: input.emailVerified ?? false,
      createdAt: now,
      updatedAt: now,
    });
  }

  /** The caller's own account, answered from the session cache. */
  current(principal: UserPrincipal): Promise<UserRow> {
    return this.sessions.currentUser(principal.userId, principal.sessionId);
  }

  /** Call after committing a change to a users row made by another module (MFA, email flows). */
  afterChange(userId: string): void {
    this.sessions.afterUserChange(userId);
  }

  async updateMe(principal: UserPrincipal, input: { name: string | null }): Promise<UserView> {
    const user = await repo.updateUser(this.db, principal.userId, { name: input.name }, this.clock.now());
    if (!user) throw new NotFoundError('User not found');
    this.sessions.afterUserChange(user.id);
    return toUserView(user);
  }

  /**
   * Changes the caller's password after checking the current one; every other session ends.
   * @throws UnauthenticatedError invalid_credentials · ValidationError password.too_common
   */
  async changePassword(
    principal: UserPrincipal,
    currentPassword: string,
    newPassword: string,
  ): Promise<void> {
    const user = await this.get(principal.userId);
    if (!(await this.hasher.verify(user.passwordHash, currentPassword))) {
      throw new UnauthenticatedError('invalid_credentials', 'The current password is wrong');
    }
    assertAcceptablePassword(newPassword, '/newPassword');
    const passwordHash = await this.hasher.hash(newPassword);
    await this.db.transaction(async (tx) => {
      await repo.updateUser(tx, user.id, { passwordHash }, this.clock.now());
      await this.sessions.endUserSessions(tx, user.id, 'password_changed', principal.sessionId);
    });
    this.sessions.afterUserChange(user.id);
  }

  /**
   * Deletes the caller's account and with it every session.
   * @throws ConflictError last_superuser, sole_owner (the only owner of a tenant)
   */
  async deleteMe(ctx: AuditContext, principal: UserPrincipal): Promise<void> {
    await this.delete(ctx, principal.userId, { self: true });
  }

  // --- platform administration (superusers) ---

  async list(query: {
    q?: string | undefined;
    cursor?: string | undefined;
    limit: number;
  }): Promise<Page<UserView>> {
    const rows = await repo.listUsers(this.db, {
      q: query.q,
      before: decodeCursor(query.cursor),
      limit: query.limit,
    });
    return toPage(rows, query.limit, toUserView);
  }

  /** @throws ConflictError conflict (email taken) · ValidationError password.too_common */
  async adminCreate(ctx: AuditContext, input: CreateUser): Promise<UserView> {
    const user = await this.db.transaction(async (tx) => {
      const user = await this.create(tx, input);
      await this.audit.record(tx, ctx, {
        tenantId: null,
        action: 'user.created',
        target: { type: 'user', id: user.id },
        metadata: { email: user.email, isSuperuser: user.isSuperuser },
      });
      return user;
    });
    return toUserView(user);
  }

  /**
   * Renames, (de)activates or (un)makes a superuser. Deactivation ends every session of the user.
   * @throws NotFoundError · ConflictError last_superuser
   */
  async adminUpdate(ctx: AuditContext, id: string, input: UpdateUser): Promise<UserView> {
    const mayRemove = input.isSuperuser === false || input.isActive === false;
    const updated = await this.db.transaction(async (tx) => {
      // Lock before reading the user, not after: a read taken just before a concurrent promotion
      // of this user commits sees a regular user and skips the check, while another demotion counts
      // the promoted user; together they left no active superuser.
      if (mayRemove) await lockSuperusers(tx);
      const user = await this.get(id, tx);
      if (mayRemove && user.isSuperuser && user.isActive) await this.#assertNotLastSuperuser(tx);
      const row = await repo.updateUser(tx, id, input, this.clock.now());
      const deactivated = input.isActive === false && user.isActive;
      if (deactivated) await this.sessions.endUserSessions(tx, id, 'deactivated');
      await this.audit.record(tx, ctx, {
        tenantId: null,
        action: deactivated ? 'user.deactivated' : 'user.updated',
        target: { type: 'user', id },
        metadata: { changes: input },
      });
      return row!;
    });
    this.sessions.afterUserChange(id);
    return toUserView(updated);
  }

  /**
   * Deletes a user; sessions go with it (foreign keys cascade).
   * @throws NotFoundError · ConflictError last_superuser
   */
  async delete(ctx: AuditContext, id: string, options: { self: boolean } = { self: false }): Promise<void> {
    const afterCommit = await this.db.transaction(async (tx) => {
      // Locked before the read, for the reason given in adminUpdate.
      await lockSuperusers(tx);
      const user = await this.get(id, tx);
      if (user.isSuperuser && user.isActive) await this.#assertNotLastSuperuser(tx);
      const after = await this.beforeDelete(tx, id, options);
      await repo.deleteUser(tx, id);
      await this.audit.record(tx, ctx, {
        tenantId: null,
        action: 'user.deleted',
        target: { type: 'user', id },
        metadata: { email: user.email, self: options.self },
      });
      return after;
    });
    this.sessions.afterUserChange(id);
    afterCommit();
  }

  /**
   * Creates the first superuser from BOOTSTRAP_ADMIN_* when there is none. An existing account with
   * that email is left alone: promoting it would hand the platform to whoever registered it.
   * @throws ValidationError password.too_common
   */
  async bootstrapAdmin(email: string, password: string): Promise<'created' | 'exists' | 'email_taken'> {
    // Every start after the first ends here, without taking the lock.
    if ((await repo.countActiveSuperusers(this.db)) > 0) return 'exists';
    // Instances starting together all see "no superuser" above. Checking again under the superuser
    // lock lets exactly one create it: without it the others crashed start-up on the unique email
    // (same settings) or each created a superuser of their own (different settings).
    return this.db.transaction(async (tx) => {
      await lockSuperusers(tx);
      if ((await repo.countActiveSuperusers(tx)) > 0) return 'exists';
      if (await this.findByEmail(email, tx)) return 'email_taken';
      await this.create(tx, { email, password, isSuperuser: true, emailVerified: true });
      return 'created';
    });
  }

  /**
   * The CLI's `create-admin`: creates a superuser, or makes an existing account one and sets its
   * password. The operator at the console is trusted with that.
   */
  async createOrPromoteAdmin(email: string, password: string): Promise<'created' | 'promoted'> {
    const existing = await this.findByEmail(email);
    if (!existing) {
      await this.create(this.db, { email, password, isSuperuser: true, emailVerified: true });
      return 'created';
    }
    assertAcceptablePassword(password);
    const passwordHash = await this.hasher.hash(password);
    await this.db.transaction(async (tx) => {
      await repo.updateUser(
        tx,
        existing.id,
        { isSuperuser: true, isActive: true, passwordHash },
        this.clock.now(),
      );
      await this.sessions.endUserSessions(tx, existing.id, 'password_changed');
    });
    this.sessions.afterUserChange(existing.id);
    return 'promoted';
  }

  /**
   * The platform must keep one active superuser, or nobody could administer it again. The caller
   * holds the superuser lock, taken before it read the user it is about to change.
   */
  async #assertNotLastSuperuser(tx: Executor): Promise<void> {
    if ((await repo.countActiveSuperusers(tx)) <= 1) {
      throw new ConflictError('last_superuser', 'The platform must keep at least one active superuser');
    }
  }
}
