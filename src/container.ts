import type { Config } from './config.js';
import { type Clock, systemClock } from './domain/clock.js';
import { ForbiddenError } from './domain/errors.js';
import type { Principal } from './domain/principal.js';
import { SecretBox, SecretHasher } from './domain/secrets.js';
import { ApiKeyCache } from './modules/api-keys/api-key-cache.js';
import { ApiKeyService } from './modules/api-keys/api-keys.service.js';
import { AuditService } from './modules/audit/audit.service.js';
import { AccessTokens } from './modules/auth/access-tokens.js';
import { AuthService } from './modules/auth/auth.service.js';
import { Authenticator } from './modules/auth/authenticator.js';
import { EmailFlowService } from './modules/auth/email-flows.service.js';
import { type Argon2Cost, defaultPoolSize, OWASP_ARGON2, PasswordHasher } from './modules/auth/passwords.js';
import { SessionCache } from './modules/auth/session-cache.js';
import { SessionService } from './modules/auth/sessions.service.js';
import { SIGNING_KEYS_CHANNEL, SigningKeyStore } from './modules/auth/signing-keys.js';
import { AuthzService } from './modules/authz/authz.service.js';
import { PermissionResolver } from './modules/authz/permission-resolver.js';
import { InvitationService } from './modules/invitations/invitations.service.js';
import { MailOutbox } from './modules/mail/mail.outbox.js';
import { MailSender } from './modules/mail/mail.sender.js';
import { MemberService } from './modules/members/members.service.js';
import { MfaService } from './modules/mfa/mfa.service.js';
import { PermissionService } from './modules/permissions/permissions.service.js';
import { RoleNames } from './modules/roles/role-names.js';
import { RoleService } from './modules/roles/roles.service.js';
import { TenantService } from './modules/tenants/tenants.service.js';
import { UserService } from './modules/users/users.service.js';
import type { Database } from './platform/db.js';
import { Limits, signInAttemptHooks } from './platform/limits/limits.js';

export interface ContainerDeps {
  config: Config;
  database: Database;
  clock?: Clock;
  /** Tests pass a cheaper Argon2id cost; the service always runs with OWASP_ARGON2. */
  argon2?: Argon2Cost;
}

/**
 * Every service, wired once. The HTTP app and the CLI both build one, so the CLI's
 * `create-admin` or `rotate-keys` runs exactly the code the API runs.
 */
export async function createContainer(deps: ContainerDeps) {
  const { config, database } = deps;
  const clock = deps.clock ?? systemClock;
  const db = database.db;
  // The audit log, first: every module that changes something records it in the same transaction.
  const audit = new AuditService(db, clock, { retentionDays: config.auditRetentionDays });

  const hasher = new PasswordHasher(deps.argon2 ?? OWASP_ARGON2, defaultPoolSize(config.webConcurrency));
  const keys = new SigningKeyStore(
    db,
    new SecretBox(config.secretKey, 'signing-keys'),
    config.accessTokenTtl,
    clock,
  );
  await keys.init();
  keys.audit = audit;
  const tokens = new AccessTokens(keys, config.publicUrl, config.accessTokenTtl, clock);
  const sessionCache = new SessionCache(db);
  const sessions = new SessionService(db, sessionCache, clock, config.refreshTokenTtl);
  const users = new UserService(db, hasher, sessions, clock, audit);
  const auth = new AuthService(db, users, sessions, tokens, hasher, {
    allowSignup: config.allowSignup,
    accessTokenTtl: config.accessTokenTtl,
  });
  // TOTP two-step sign-in: a correct password of an MFA user answers an mfaToken, not a session.
  // Its `limits` (MFA codes share the sign-in budget) are set where the sign-in limits are made.
  const mfa = new MfaService(
    db,
    users,
    auth,
    tokens,
    hasher,
    new SecretBox(config.secretKey, 'totp'),
    clock,
    {
      issuer: 'Tessera',
    },
  );
  auth.mfaChallenge = (user, tenantId) => mfa.challenge(user, tenantId);
  auth.audit = audit;
  // Abuse limits (src/platform/limits), shared through Redis when REDIS_URL is set. Sign-in and MFA
  // attempts spend one budget; `limits.onLockout` reports a pair or an account reaching its limit.
  const limits = await Limits.create({
    authPerMinute: config.authRateLimitPerMinute,
    loginMaxFailures: config.loginMaxFailures,
    redisUrl: config.redisUrl,
    keyPrefix: config.redisKeyPrefix,
    clock,
  });
  auth.signInLimits = limits;
  mfa.limits = signInAttemptHooks(limits);
  // A lock-out goes to the platform audit log (after the limits' own log line). Only the user id:
  // the email of an unknown account may be a mistyped password.
  const logLockout = limits.onLockout;
  limits.onLockout = async (event) => {
    await logLockout(event);
    await audit.recordNow(
      { actor: { type: 'system', id: null }, ip: event.ip, userAgent: null },
      {
        tenantId: null,
        action: 'auth.lockout',
        target: { type: 'user', id: 'userId' in event.account ? event.account.userId : null },
        metadata: { scope: event.scope },
      },
    );
  };
  const permissions = new PermissionResolver(db);
  // API keys are wired here, ahead of the tenant modules, because authentication needs them.
  const apiKeyCache = new ApiKeyCache(db);
  permissions.observe((change) => apiKeyCache.applyPermissionChange(change));
  const permissionCatalogue = new PermissionService(db, permissions, clock);
  const apiKeys = new ApiKeyService(
    db,
    apiKeyCache,
    new SecretHasher(config.secretKey, 'api-keys'),
    permissionCatalogue,
    clock,
    audit,
  );
  const authenticator = new Authenticator(tokens, sessionCache, (secret) => apiKeys.authenticate(secret));
  /**
   * The caller's access in a tenant, or null when it may not know the tenant exists. An API key
   * holds its own permissions in its own tenant and nothing anywhere else (404, as for an outsider).
   */
  const tenantAccess = async (principal: Principal, tenantId: string) => {
    if (principal.type === 'api_key')
      return principal.tenantId === tenantId
        ? { tenantId, permissions: principal.permissions, isOwner: false }
        : null;
    return principal.isSuperuser
      ? permissions.forSuperuser(tenantId)
      : permissions.forMember(tenantId, principal.userId);
  };
  // A tenant-scoped token carries the member's permissions at the time it is issued.
  auth.tenantScope = async (userId, tenantId) => {
    const access = await permissions.forMember(tenantId, userId);
    if (!access) throw new ForbiddenError('forbidden', 'You are not a member of this tenant');
    return { permissions: [...access.permissions].sort() };
  };

  const roleNames = new RoleNames(db);
  permissions.observe((change) => roleNames.apply(change));
  const members = new MemberService(db, permissions, clock, audit, roleNames);
  const tenants = new TenantService(db, members, permissions, clock, audit, {
    allowTenantCreation: config.allowTenantCreation,
  });
  // Deleting an account must not leave a tenant without an owner (409 sole_owner on DELETE /me).
  users.beforeDelete = (tx, userId, options) => members.beforeUserDeletion(tx, userId, options);
  const roles = new RoleService(db, permissions, permissionCatalogue, clock, audit);
  const authz = new AuthzService(permissions);
  // Mail: written to the outbox in the transaction of its cause, delivered by the sender, which the
  // app starts (the CLI never does).
  const outbox = new MailOutbox(new SecretBox(config.secretKey, 'mail-outbox'));
  const mailSender = new MailSender(db, outbox, {
    smtpUrl: config.smtpUrl,
    from: config.mailFrom ?? `Tessera <no-reply@${new URL(config.publicUrl).hostname}>`,
  });
  outbox.onEnqueued = () => mailSender.kick();
  const emailFlows = new EmailFlowService(db, users, sessions, hasher, outbox, clock, {
    publicUrl: config.publicUrl,
  });
  const invitations = new InvitationService(
    db,
    users,
    members,
    permissions,
    outbox,
    emailFlows,
    clock,
    audit,
    {
      publicUrl: config.publicUrl,
      invitationTtl: config.invitationTtl,
    },
  );
  auth.invitations = invitations;
  auth.onRegistered = (tx, user) => emailFlows.issueVerification(tx, user);
  auth.afterRegistered = () => outbox.onEnqueued();

  // A failed reload (the database briefly away) keeps the keys already loaded; the next
  // notification or unknown kid tries again.
  const reloadKeys = () => {
    keys.reload().catch(() => {});
  };
  const unsubscribe = [
    await sessionCache.subscribe(database),
    await permissions.subscribe(database),
    await apiKeyCache.subscribe(database),
    await database.listen(SIGNING_KEYS_CHANNEL, reloadKeys, reloadKeys),
  ];

  return {
    config,
    database,
    db,
    clock,
    hasher,
    keys,
    tokens,
    sessionCache,
    sessions,
    users,
    auth,
    mfa,
    limits,
    authenticator,
    permissions,
    tenantAccess,
    audit,
    tenants,
    members,
    permissionCatalogue,
    roles,
    authz,
    outbox,
    mailSender,
    emailFlows,
    invitations,
    apiKeyCache,
    apiKeys,
    /** Stops listening for invalidations; the database itself belongs to the caller. */
    async close(): Promise<void> {
      audit.stopPurging();
      await Promise.all(unsubscribe.map((stop) => stop().catch(() => {})));
      await emailFlows.settled();
      await mailSender.stop();
      await limits.close();
      await hasher.close();
    },
  };
}

export type Container = Awaited<ReturnType<typeof createContainer>>;
