import type { UserRow } from '../../db/schema/index.js';
import { ForbiddenError, UnauthenticatedError, ValidationError } from '../../domain/errors.js';
import type { Db, Executor, Tx } from '../../platform/db.js';
import type { Limits, SignInAttempt } from '../../platform/limits/limits.js';
import { type AuditRecorder, unwiredAudit } from '../audit/audit.service.js';
import { type AuditContext, userContext } from '../audit/audit-context.js';
import { toUserView, type UserView } from '../users/users.schemas.js';
import { normalizeEmail, type UserService } from '../users/users.service.js';
import type { AccessTokens } from './access-tokens.js';
import type { PasswordHasher } from './passwords.js';
import type { ClientInfo, SessionService } from './sessions.service.js';

export interface TokenPair {
  tokenType: 'Bearer';
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  user: UserView;
}

/**
 * What a tenant-scoped token carries for a user in a tenant; throws when they are not a member.
 * The container sets it from the permission resolver; the default refuses every tenant.
 */
export type TenantScopeResolver = (userId: string, tenantId: string) => Promise<{ permissions: string[] }>;

export const noTenants: TenantScopeResolver = async () => {
  throw new ForbiddenError('forbidden', 'You are not a member of this tenant');
};

/**
 * Sign-up with an invitation token; the container sets it from the invitations module. The default
 * knows no invitation.
 */
export interface InvitationSignup {
  /** The email of the live invitation `token` belongs to. */
  peek(token: string): Promise<{ email: string } | undefined>;
  /** In the sign-up transaction: accepts the invitation for the new user; answers what to run after commit. */
  acceptForNewUser(ctx: AuditContext, tx: Tx, token: string, user: UserRow): Promise<() => void>;
}

export const noInvitations: InvitationSignup = {
  peek: async () => undefined,
  acceptForNewUser: async () => {
    throw invalidInvitation();
  },
};

/** The answer to a correct password when the account has two-step sign-in on. */
export interface MfaChallenge {
  mfaRequired: true;
  mfaToken: string;
}

/**
 * Issues the mfaToken of a user whose password was right and who has MFA on; the container sets it
 * from the MFA module. The default fails closed: no token of any kind.
 */
export type MfaChallengeIssuer = (user: UserRow, tenantId?: string) => Promise<MfaChallenge>;

export const noMfa: MfaChallengeIssuer = async () => {
  throw invalidCredentials();
};

const unwiredSignInLimits: Pick<Limits, 'reserveSignInAttempt'> = {
  reserveSignInAttempt: () => Promise.reject(new Error('The sign-in limits are not wired')),
};

/** Runs in the sign-up transaction of an account made without an invitation (the verification mail). */
export type RegistrationHook = (tx: Tx, user: UserRow) => Promise<void>;

const invalidInvitation = () =>
  new ValidationError(
    'The invitation is invalid or has expired',
    [{ path: '/invitationToken', message: 'is not a valid invitation' }],
    'invitation.invalid',
  );

const invalidCredentials = () =>
  new UnauthenticatedError('invalid_credentials', 'The email or password is wrong');

/**
 * Runs a password check for a reserved sign-in attempt. When the hashing queue is full
 * (OverloadedError, 503) nothing was checked, so the reservation is given back rather than counted
 * as a failure: a flood must not lock out the accounts it names.
 */
async function checked<T>(attempt: SignInAttempt, check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (error) {
    await attempt.release();
    throw error;
  }
}

/** Sign-up, sign-in and token refresh. */
export class AuthService {
  tenantScope: TenantScopeResolver = noTenants;
  invitations: InvitationSignup = noInvitations;
  onRegistered: RegistrationHook = async () => {};
  /** The audit log (sign-ins, failed sign-ins); the container sets it, unset it fails every sign-in. */
  audit: AuditRecorder = unwiredAudit;
  mfaChallenge: MfaChallengeIssuer = noMfa;
  /** The sign-in failure limits (src/platform/limits); the container sets them, unset every sign-in fails. */
  signInLimits: Pick<Limits, 'reserveSignInAttempt'> = unwiredSignInLimits;
  /** Runs after a sign-up commits (wakes the mail sender). */
  afterRegistered: () => void = () => {};

  constructor(
    private readonly db: Db,
    private readonly users: UserService,
    private readonly sessions: SessionService,
    private readonly tokens: AccessTokens,
    private readonly hasher: PasswordHasher,
    private readonly options: { allowSignup: boolean; accessTokenTtl: number },
  ) {}

  /**
   * Creates an account and signs it in. With a live invitation token sign-up is open even when
   * ALLOW_SIGNUP=false: the account takes the invitation's email (which must be the one given),
   * verified, and joins the tenant in the same transaction. Without one, a verification mail goes out.
   * @throws ForbiddenError signup_disabled · ConflictError conflict ·
   *   ValidationError password.too_common, invitation.invalid, invitation.email_mismatch
   */
  async register(
    input: { email: string; password: string; name?: string; invitationToken?: string },
    client: ClientInfo,
  ): Promise<TokenPair> {
    const token = input.invitationToken;
    const invitation = token === undefined ? undefined : await this.invitations.peek(token);
    if (!this.options.allowSignup && !invitation)
      throw new ForbiddenError('signup_disabled', 'Sign-up is disabled');
    if (token !== undefined && !invitation) throw invalidInvitation();
    if (invitation && normalizeEmail(input.email) !== invitation.email) {
      throw new ValidationError(
        'The email is not the address the invitation was sent to',
        [{ path: '/email', message: 'is not the invited address' }],
        'invitation.email_mismatch',
      );
    }
    let afterCommit = () => {};
    const pair = await this.db.transaction(async (tx) => {
      const user = await this.users.create(tx, { ...input, emailVerified: invitation !== undefined });
      if (token !== undefined && invitation)
        afterCommit = await this.invitations.acceptForNewUser(userContext(user.id, client), tx, token, user);
      else await this.onRegistered(tx, user);
      const { sessionId, refreshToken, written } = this.sessions.start(tx, user.id, client);
      await written;
      return this.#pair(user, sessionId, refreshToken);
    });
    afterCommit();
    this.afterRegistered();
    return pair;
  }

  /**
   * Checks a password and opens a session. Unknown email, wrong password and deactivated account
   * answer alike and cost one Argon2 verification each, so neither body nor timing tells them apart.
   * With MFA on, a correct password answers an mfaToken instead (POST /mfa/verify completes it).
   * @throws UnauthenticatedError invalid_credentials · ForbiddenError (tenantId of a non-member)
   */
  async login(
    input: { email: string; password: string; tenantId?: string },
    client: ClientInfo,
  ): Promise<TokenPair | MfaChallenge> {
    const user = await this.users.findByEmail(input.email);
    // Reserved before any password is checked (increment, then check), so concurrent guesses cannot
    // all pass a check none has counted yet; an unknown email is counted the same way, by itself.
    const attempt = await this.signInLimits.reserveSignInAttempt(
      user ? { userId: user.id } : { email: normalizeEmail(input.email) },
      client.ip,
    );
    if (!user) {
      await checked(attempt, () => this.hasher.verifyDecoy(input.password));
      await attempt.failed();
      await this.#signInFailed(client, null, 'unknown_account');
      throw invalidCredentials();
    }
    const valid = await checked(attempt, () => this.hasher.verify(user.passwordHash, input.password));
    if (!valid || !user.isActive) {
      await attempt.failed();
      await this.#signInFailed(client, user.id, valid ? 'inactive_account' : 'wrong_password');
      throw invalidCredentials();
    }
    // A right password of an MFA user only gives its reservation back: the code step spends the same
    // budget, and starting the sign-in over must not reset it.
    await (user.mfaEnabled ? attempt.release() : attempt.succeeded());
    const scope = input.tenantId ? await this.tenantScope(user.id, input.tenantId) : undefined;
    if (user.mfaEnabled) return this.mfaChallenge(user, input.tenantId);
    return this.db.transaction((tx) =>
      this.openSession(tx, user, client, input.tenantId, scope?.permissions),
    );
  }

  /**
   * The OAuth2 password grant: a password alone never gets past two-step sign-in.
   * @throws as login · ValidationError mfa_required (MFA on: use /login and /mfa/verify)
   */
  async passwordGrant(input: { email: string; password: string }, client: ClientInfo): Promise<TokenPair> {
    const outcome = await this.login(input, client);
    if ('mfaRequired' in outcome)
      throw new ValidationError(
        'This account has two-step sign-in on: use POST /v1/auth/login, then /v1/auth/mfa/verify',
        [],
        'mfa_required',
      );
    return outcome;
  }

  /** Opens a session for a user who passed every sign-in step, in the caller's transaction. */
  async openSession(
    tx: Executor,
    user: UserRow,
    client: ClientInfo,
    tenantId?: string,
    permissions?: string[],
  ): Promise<TokenPair> {
    const { sessionId, refreshToken, written } = this.sessions.start(tx, user.id, client);
    // `tx` must be a transaction: the platform log's append lock lasts until it ends. The entry's
    // lock and head read go out with the session's insert, one round trip for the three.
    const recorded = this.audit.record(tx, userContext(user.id, client), {
      tenantId: null,
      action: 'auth.sign_in',
      target: { type: 'user', id: user.id },
      metadata: { sessionId, ...(tenantId ? { tenantId } : {}) },
    });
    await Promise.all([written, recorded]);
    return this.#pair(user, sessionId, refreshToken, tenantId, permissions);
  }

  /**
   * A failed sign-in in the platform log. Every kind costs the same write, so timing still tells
   * nothing; the email typed is not kept (it may be a mistyped password).
   */
  async #signInFailed(client: ClientInfo, userId: string | null, reason: string): Promise<void> {
    await this.audit.recordNow(userContext(null, client), {
      tenantId: null,
      action: 'auth.sign_in_failed',
      target: { type: 'user', id: userId },
      metadata: { reason },
    });
  }

  /**
   * Rotates a refresh token into a new pair.
   * @throws UnauthenticatedError token_invalid · ForbiddenError (tenantId of a non-member)
   */
  async refresh(input: { refreshToken: string; tenantId?: string }, client: ClientInfo): Promise<TokenPair> {
    // The tenant is checked before the token is spent: a 403 that had spent it would leave the client
    // holding a used token, and its retry would count as reuse and end the session. An unknown or used
    // token skips this and fails in rotate(), so reuse detection still runs.
    let scope: { permissions: string[] } | undefined;
    if (input.tenantId) {
      const owner = await this.sessions.peekRefreshTokenUser(input.refreshToken);
      if (owner) scope = await this.tenantScope(owner, input.tenantId);
    }
    const { session, refreshToken } = await this.sessions.rotate(input.refreshToken, client);
    // From the session cache: while a client refreshes, its user is read once, not every time.
    const user = await this.sessions.userOf(session.id);
    if (!user?.isActive)
      throw new UnauthenticatedError('token_invalid', 'The refresh token is invalid or expired');
    // Never a tenant-scoped token without a scope check, even if the look-up above found nothing.
    if (input.tenantId && !scope) scope = await this.tenantScope(user.id, input.tenantId);
    return this.#pair(user, session.id, refreshToken, input.tenantId, scope?.permissions);
  }

  async #pair(
    user: UserRow,
    sessionId: string,
    refreshToken: string,
    tenantId?: string,
    permissions?: string[],
  ): Promise<TokenPair> {
    const accessToken = await this.tokens.issue({
      sub: user.id,
      sid: sessionId,
      ...(tenantId ? { tid: tenantId, permissions: permissions ?? [] } : {}),
    });
    return {
      tokenType: 'Bearer',
      accessToken,
      expiresIn: this.options.accessTokenTtl,
      refreshToken,
      user: toUserView(user),
    };
  }
}
