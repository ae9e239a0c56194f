import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { type UserRow, users, userTokens } from '../../db/schema/index.js';
import { addSeconds, type Clock } from '../../domain/clock.js';
import { RateLimitedError, ValidationError } from '../../domain/errors.js';
import { assertAcceptablePassword } from '../../domain/password-policy.js';
import { randomToken, sha256 } from '../../domain/secrets.js';
import type { Db, Executor } from '../../platform/db.js';
import type { MailOutbox } from '../mail/mail.outbox.js';
import type { MailLogger } from '../mail/mail.sender.js';
import { mailLink, passwordResetMail, verificationMail } from '../mail/mail.templates.js';
import type { UserService } from '../users/users.service.js';
import type { PasswordHasher } from './passwords.js';
import type { SessionService } from './sessions.service.js';

export const RESET_TTL_SECONDS = 3600;
export const VERIFICATION_TTL_SECONDS = 24 * 3600;
/** Mails of one kind per account per hour; past it, forgot stays silent and resend answers 429. */
export const MAILS_PER_ACCOUNT_PER_HOUR = 3;

export const RESET_LINK_PATH = '/password/reset';
export const VERIFY_LINK_PATH = '/email/verify';

type Purpose = 'password_reset' | 'email_verification';

const invalidToken = (purpose: Purpose) =>
  new ValidationError(
    purpose === 'password_reset'
      ? 'The reset link is invalid, used or expired'
      : 'The verification link is invalid, used or expired',
    [{ path: '/token', message: 'is not a valid token' }],
    `${purpose}.invalid`,
  );

/**
 * The emailed account flows: password reset and email verification. Their tokens are 256-bit,
 * single use, stored as SHA-256 hashes, and only the newest of each kind per account works.
 */
export class EmailFlowService {
  readonly #background = new Set<Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly users: UserService,
    private readonly sessions: SessionService,
    private readonly hasher: PasswordHasher,
    private readonly outbox: MailOutbox,
    private readonly clock: Clock,
    private readonly options: { publicUrl: string },
  ) {}

  /**
   * Starts a password reset. Answers at once, before looking the account up: the work happens in
   * the background, so neither the answer nor its timing tells whether the account exists. The
   * per-address limit is the route's (ADDRESS_BUDGETS.forgot, src/platform/limits), ahead of this.
   */
  forgot(email: string, log: MailLogger): void {
    // Not even the first query before the answer is out: on the embedded database queries run on
    // this thread, and an existing account's token and mail writes delayed the 202 by ~3 ms.
    const task = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#sendReset(email))
      .catch((error: unknown) => log.error({ err: error }, 'password reset mail failed'))
      .finally(() => this.#background.delete(task));
    this.#background.add(task);
  }

  /**
   * Sets a new password with a reset token; every session of the user ends. A reset also proves the
   * address, so it marks the email verified when the token went to the current address.
   * @throws ValidationError password.too_common, password_reset.invalid
   */
  async reset(token: string, password: string): Promise<void> {
    assertAcceptablePassword(password, '/password');
    const hash = sha256(token);
    // Look before hashing, so an unknown token costs no Argon2 run; spending it is atomic below.
    if (!(await this.#liveToken(this.db, hash, 'password_reset'))) throw invalidToken('password_reset');
    const passwordHash = await this.hasher.hash(password);
    const userId = await this.db.transaction(async (tx) => {
      const spent = await this.#spend(tx, hash, 'password_reset');
      if (!spent) throw invalidToken('password_reset');
      await tx
        .update(users)
        .set({ passwordHash, updatedAt: this.clock.now() })
        .where(eq(users.id, spent.userId));
      await this.markVerified(tx, spent.userId, spent.email);
      await this.sessions.endUserSessions(tx, spent.userId, 'password_changed');
      return spent.userId;
    });
    this.sessions.afterUserChange(userId);
  }

  /** @throws ValidationError email_verification.invalid */
  async verify(token: string): Promise<void> {
    const userId = await this.db.transaction(async (tx) => {
      const spent = await this.#spend(tx, sha256(token), 'email_verification');
      // A token mailed to an address the account no longer has verifies nothing.
      if (!spent || !(await this.markVerified(tx, spent.userId, spent.email)))
        throw invalidToken('email_verification');
      return spent.userId;
    });
    this.sessions.afterUserChange(userId);
  }

  /**
   * Mails a new verification link (the older ones die). Nothing to do when already verified.
   * @throws RateLimitedError past MAILS_PER_ACCOUNT_PER_HOUR
   */
  async resendVerification(userId: string): Promise<void> {
    const sent = await this.db.transaction(async (tx) => {
      const user = await this.#lockUser(tx, userId);
      if (!user || user.emailVerified) return false;
      if (
        (await this.outbox.countRecent(tx, user.id, 'email_verification', 3600)) >= MAILS_PER_ACCOUNT_PER_HOUR
      ) {
        throw new RateLimitedError(3600);
      }
      await this.issueVerification(tx, user);
      return true;
    });
    if (sent) this.outbox.onEnqueued();
  }

  /** Mails a verification link to a new account, in its sign-up transaction. */
  async issueVerification(tx: Executor, user: UserRow): Promise<void> {
    const token = await this.#issue(tx, user, 'email_verification', VERIFICATION_TTL_SECONDS);
    const rendered = verificationMail({
      link: mailLink(this.options.publicUrl, VERIFY_LINK_PATH, token),
      validHours: VERIFICATION_TTL_SECONDS / 3600,
    });
    await this.outbox.enqueue(tx, {
      ...rendered,
      kind: 'email_verification',
      to: user.email,
      userId: user.id,
    });
  }

  /** Marks the user's email verified, if `email` is still their address. Answers whether it is. */
  async markVerified(tx: Executor, userId: string, email: string): Promise<boolean> {
    const rows = await tx
      .update(users)
      .set({ emailVerified: true, updatedAt: this.clock.now() })
      .where(and(eq(users.id, userId), sql`lower(${users.email}) = ${email.toLowerCase()}`))
      .returning({ id: users.id });
    return rows.length > 0;
  }

  /** Resolves when every background reset started so far has finished (shutdown, tests). */
  async settled(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  async #sendReset(email: string): Promise<void> {
    const found = await this.users.findByEmail(email);
    if (!found?.isActive) return;
    const queued = await this.db.transaction(async (tx) => {
      // The user's row lock makes the per-account count and the new mail one step.
      const user = await this.#lockUser(tx, found.id);
      if (!user?.isActive) return false;
      if ((await this.outbox.countRecent(tx, user.id, 'password_reset', 3600)) >= MAILS_PER_ACCOUNT_PER_HOUR)
        return false;
      const token = await this.#issue(tx, user, 'password_reset', RESET_TTL_SECONDS);
      const rendered = passwordResetMail({
        link: mailLink(this.options.publicUrl, RESET_LINK_PATH, token),
        validMinutes: RESET_TTL_SECONDS / 60,
      });
      await this.outbox.enqueue(tx, { ...rendered, kind: 'password_reset', to: user.email, userId: user.id });
      return true;
    });
    if (queued) this.outbox.onEnqueued();
  }

  /** A new token of `purpose`; every older one of the user dies. Answers the token in clear. */
  async #issue(tx: Executor, user: UserRow, purpose: Purpose, ttlSeconds: number): Promise<string> {
    await tx.delete(userTokens).where(and(eq(userTokens.userId, user.id), eq(userTokens.purpose, purpose)));
    const token = randomToken(32);
    const now = this.clock.now();
    await tx.insert(userTokens).values({
      userId: user.id,
      purpose,
      tokenHash: sha256(token),
      email: user.email.toLowerCase(),
      expiresAt: addSeconds(now, ttlSeconds),
      createdAt: now,
    });
    return token;
  }

  async #liveToken(tx: Executor, tokenHash: string, purpose: Purpose): Promise<boolean> {
    const [row] = await tx
      .select({ id: userTokens.id })
      .from(userTokens)
      .where(this.#live(tokenHash, purpose));
    return row !== undefined;
  }

  /** Spends the token: of any number of concurrent calls, one gets the row. */
  async #spend(tx: Executor, tokenHash: string, purpose: Purpose) {
    const [row] = await tx
      .update(userTokens)
      .set({ usedAt: this.clock.now() })
      .where(this.#live(tokenHash, purpose))
      .returning({ userId: userTokens.userId, email: userTokens.email });
    return row;
  }

  #live(tokenHash: string, purpose: Purpose) {
    return and(
      eq(userTokens.tokenHash, tokenHash),
      eq(userTokens.purpose, purpose),
      isNull(userTokens.usedAt),
      gt(userTokens.expiresAt, this.clock.now()),
    );
  }

  async #lockUser(tx: Executor, userId: string): Promise<UserRow | undefined> {
    const [row] = await tx.select().from(users).where(eq(users.id, userId)).for('update');
    return row;
  }
}
