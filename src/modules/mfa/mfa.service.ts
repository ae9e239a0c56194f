import { randomInt } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import type { UserRow } from '../../db/schema/index.js';
import { addSeconds, type Clock } from '../../domain/clock.js';
import { ConflictError, UnauthenticatedError, ValidationError } from '../../domain/errors.js';
import type { UserPrincipal } from '../../domain/principal.js';
import { randomToken, type SecretBox } from '../../domain/secrets.js';
import type { Db } from '../../platform/db.js';
import { type AccessTokens, MFA_TOKEN_TTL } from '../auth/access-tokens.js';
import type { AuthService, MfaChallenge, TokenPair } from '../auth/auth.service.js';
import type { PasswordHasher } from '../auth/passwords.js';
import type { ClientInfo } from '../auth/sessions.service.js';
import type { UserService } from '../users/users.service.js';
import * as repo from './mfa.repo.js';

/** RFC 6238 defaults, which every authenticator app supports. */
const TOTP_PARAMS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** Codes of the previous and next time-step pass too (clock drift, a code typed as it turns). */
const TOTP_WINDOW = 1;
/** 160 bits, RFC 4226's recommended secret length. */
const SECRET_BYTES = 20;
const RECOVERY_CODE_COUNT = 10;
/** 32 symbols without the look-alikes 0/o and 1/l: 10 of them carry 50 bits. */
const RECOVERY_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';
const RECOVERY_LENGTH = 10;
/** Codes tried with one mfaToken before it stops working, whatever the sign-in limits say. */
export const MAX_ATTEMPTS_PER_MFA_TOKEN = 5;

/** One MFA code attempt, for the sign-in limits. */
export interface MfaAttempt {
  userId: string;
  email: string;
  ip: string | null;
}

/**
 * The seam to the sign-in limits ("MFA codes share the sign-in budget"). `before` runs ahead of
 * every code check and throws RateLimitedError when the budget is spent; `failed` counts a wrong
 * code as a sign-in failure; `succeeded` runs after a completed sign-in. The container wires it;
 * the default counts nothing.
 */
export interface MfaAttemptLimits {
  before(attempt: MfaAttempt): Promise<void>;
  failed(attempt: MfaAttempt): Promise<void>;
  succeeded(attempt: MfaAttempt): Promise<void>;
}

export const noMfaLimits: MfaAttemptLimits = {
  before: async () => {},
  failed: async () => {},
  succeeded: async () => {},
};

const invalidCode = () =>
  new ValidationError(
    'The code is wrong or has expired',
    [{ path: '/code', message: 'is not a valid code' }],
    'mfa.invalid_code',
  );
const wrongCode = () => new UnauthenticatedError('invalid_credentials', 'The code is wrong or has expired');
const invalidMfaToken = () =>
  new UnauthenticatedError('token_invalid', 'The MFA token is invalid or expired');
const alreadyEnabled = () =>
  new ConflictError('mfa.already_enabled', 'Two-step sign-in is already on; disable it first');

/** A code that is wrong, or was spent (replayed, or by a concurrent request) before this one. */
class WrongCode extends Error {}

/** Digits only for a TOTP; lower-case letters and digits for a recovery code; spaces and dashes dropped. */
function normalizeCode(code: string): string {
  return code.replace(/[\s-]/g, '').toLowerCase();
}
const isTotpCode = (code: string) => /^\d{6}$/.test(code);
const isRecoveryCode = (code: string) => code.length === RECOVERY_LENGTH && /^[a-z0-9]+$/.test(code);

function newRecoveryCode(): string {
  let code = '';
  for (let i = 0; i < RECOVERY_LENGTH; i++) code += RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)];
  return code;
}
const formatRecoveryCode = (code: string) => `${code.slice(0, 5)}-${code.slice(5)}`;

/**
 * TOTP two-step sign-in (RFC 6238): setup, enable with recovery codes, disable, and the second
 * step of a sign-in. Secrets are sealed at rest (SecretBox `totp`), recovery codes stored as
 * Argon2id hashes; every code works once (TOTP: the last accepted time-step only moves forward).
 */
export class MfaService {
  limits: MfaAttemptLimits = noMfaLimits;

  constructor(
    private readonly db: Db,
    private readonly users: UserService,
    private readonly auth: AuthService,
    private readonly tokens: AccessTokens,
    private readonly hasher: PasswordHasher,
    private readonly box: SecretBox,
    private readonly clock: Clock,
    private readonly options: { issuer: string },
  ) {}

  /**
   * A new pending secret (replacing a pending one); it takes effect once enabled with a code.
   * @throws ConflictError mfa.already_enabled
   */
  async setup(principal: UserPrincipal): Promise<{ secret: string; otpauthUrl: string }> {
    const user = await this.users.get(principal.userId);
    if (user.mfaEnabled) throw alreadyEnabled();
    const secret = new Secret({ size: SECRET_BYTES });
    const totp = new TOTP({ ...TOTP_PARAMS, issuer: this.options.issuer, label: user.email, secret });
    const stored = await repo.upsertPending(
      this.db,
      user.id,
      this.box.encrypt(secret.base32),
      this.clock.now(),
    );
    if (!stored) throw alreadyEnabled();
    return { secret: secret.base32, otpauthUrl: totp.toString() };
  }

  /**
   * Turns the pending authenticator on with a current code; answers 10 recovery codes, shown once.
   * @throws ValidationError mfa.invalid_code · ConflictError mfa.already_enabled, mfa.setup_required
   */
  async enable(principal: UserPrincipal, code: string): Promise<{ recoveryCodes: string[] }> {
    const authenticator = await repo.findAuthenticator(this.db, principal.userId);
    if (authenticator?.enabledAt) throw alreadyEnabled();
    if (!authenticator)
      throw new ConflictError('mfa.setup_required', 'Set up an authenticator first (POST /mfa/totp/setup)');
    const normalized = normalizeCode(code);
    const step = isTotpCode(normalized) ? this.#matchStep(authenticator.secretSealed, normalized) : undefined;
    if (step === undefined || step <= authenticator.lastUsedStep) throw invalidCode();

    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    // Hashed before the transaction, so it is not held open for Argon2.
    const hashes = await Promise.all(codes.map((c) => this.hasher.hash(c)));
    const now = this.clock.now();
    await this.db.transaction(async (tx) => {
      const enabled = await repo.enable(tx, principal.userId, authenticator.secretSealed, step, now);
      if (!enabled)
        throw new ConflictError('conflict', 'The authenticator changed meanwhile; set it up again');
      await repo.replaceRecoveryCodes(tx, principal.userId, hashes, now);
      await repo.setMfaEnabled(tx, principal.userId, true, now);
    });
    this.users.afterChange(principal.userId);
    return { recoveryCodes: codes.map(formatRecoveryCode) };
  }

  /**
   * Turns two-step sign-in off after checking the password; the secret and recovery codes go.
   * @throws UnauthenticatedError invalid_credentials · ConflictError mfa.not_enabled
   */
  async disable(principal: UserPrincipal, password: string): Promise<void> {
    const user = await this.users.get(principal.userId);
    if (!(await this.hasher.verify(user.passwordHash, password)))
      throw new UnauthenticatedError('invalid_credentials', 'The password is wrong');
    const wasEnabled = await this.db.transaction(async (tx) => {
      const removed = await repo.removeAll(tx, user.id);
      await repo.setMfaEnabled(tx, user.id, false, this.clock.now());
      return removed;
    });
    this.users.afterChange(user.id);
    if (!wasEnabled && !user.mfaEnabled)
      throw new ConflictError('mfa.not_enabled', 'Two-step sign-in is not on');
  }

  /**
   * The answer to a correct password of an MFA user: a five-minute, single-use mfaToken carrying
   * the tenant asked for, which only POST /mfa/verify accepts.
   */
  async challenge(user: UserRow, tenantId?: string): Promise<MfaChallenge> {
    const jti = randomToken(16);
    const now = this.clock.now();
    await repo.insertChallenge(this.db, {
      jti,
      userId: user.id,
      createdAt: now,
      expiresAt: addSeconds(now, MFA_TOKEN_TTL),
    });
    const mfaToken = await this.tokens.issueMfa({
      sub: user.id,
      jti,
      ...(tenantId ? { tid: tenantId } : {}),
    });
    return { mfaRequired: true, mfaToken };
  }

  /**
   * The second step: an mfaToken and a current TOTP or an unused recovery code open a session.
   * @throws UnauthenticatedError token_invalid, token_expired (the mfaToken), invalid_credentials
   *   (the code) · ForbiddenError (tenantId of a non-member) · RateLimitedError (sign-in limits)
   */
  async verify(input: { mfaToken: string; code: string }, client: ClientInfo): Promise<TokenPair> {
    const claims = await this.tokens.verifyMfa(input.mfaToken);
    const user = await this.users.get(claims.sub).catch(() => undefined);
    if (!user?.isActive || !user.mfaEnabled) throw invalidMfaToken();
    const attempt: MfaAttempt = { userId: user.id, email: user.email, ip: client.ip };
    await this.limits.before(attempt);
    // Before any code is spent: a 403 must not cost the user a recovery code.
    const scope = claims.tid ? await this.auth.tenantScope(user.id, claims.tid) : undefined;
    const now = this.clock.now();
    if (!(await repo.countAttempt(this.db, claims.jti, user.id, now, MAX_ATTEMPTS_PER_MFA_TOKEN)))
      throw invalidMfaToken();

    const authenticator = await repo.findAuthenticator(this.db, user.id);
    if (!authenticator?.enabledAt) throw invalidMfaToken();
    const code = normalizeCode(input.code);
    let step: number | undefined;
    let recoveryCodeId: string | undefined;
    if (isTotpCode(code)) step = this.#matchStep(authenticator.secretSealed, code);
    else if (isRecoveryCode(code)) recoveryCodeId = await this.#matchRecoveryCode(user.id, code);

    try {
      if (step === undefined && recoveryCodeId === undefined) throw new WrongCode();
      const pair = await this.db.transaction(async (tx) => {
        if (!(await repo.useChallenge(tx, claims.jti, now))) throw invalidMfaToken();
        const spent =
          step !== undefined
            ? await repo.advanceStep(tx, user.id, step, now)
            : await repo.useRecoveryCode(tx, recoveryCodeId!, now);
        if (!spent) throw new WrongCode();
        return this.auth.openSession(tx, user, client, claims.tid, scope?.permissions);
      });
      await this.limits.succeeded(attempt);
      return pair;
    } catch (error) {
      if (!(error instanceof WrongCode)) throw error;
      await this.limits.failed(attempt);
      throw wrongCode();
    }
  }

  /** The time-step a code belongs to, when it is the code of a step within the window. */
  #matchStep(secretSealed: string, code: string): number | undefined {
    const timestamp = this.clock.now().getTime();
    const secret = Secret.fromBase32(this.box.decrypt(secretSealed));
    const delta = TOTP.validate({ ...TOTP_PARAMS, token: code, secret, timestamp, window: TOTP_WINDOW });
    return delta === null ? undefined : TOTP.counter({ period: TOTP_PARAMS.period, timestamp }) + delta;
  }

  /** The id of the unused recovery code `code` is, checked against each Argon2id hash. */
  async #matchRecoveryCode(userId: string, code: string): Promise<string | undefined> {
    for (const candidate of await repo.unusedRecoveryCodes(this.db, userId)) {
      if (await this.hasher.verify(candidate.codeHash, code)) return candidate.id;
    }
    return undefined;
  }
}
