import type { SessionRow, UserRow } from '../../db/schema/index.js';
import { addSeconds, type Clock } from '../../domain/clock.js';
import { NotFoundError, UnauthenticatedError } from '../../domain/errors.js';
import { uuidv7 } from '../../domain/ids.js';
import { randomToken, sha256 } from '../../domain/secrets.js';
import { type Db, type Executor, notify } from '../../platform/db.js';
import { SESSIONS_CHANNEL, type SessionCache } from './session-cache.js';
import * as repo from './sessions.repo.js';

export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}

export type RevokeReason = 'logout' | 'revoked' | 'password_changed' | 'deactivated' | 'refresh_reuse';

const invalidRefresh = () =>
  new UnauthenticatedError('token_invalid', 'The refresh token is invalid or expired');

/**
 * Sessions and their refresh tokens. Refresh tokens are 256-bit random strings stored only as
 * SHA-256 hashes, used once: every refresh hands out a new one, and a used one presented again
 * ends its session (RFC 9700 reuse detection).
 */
export class SessionService {
  constructor(
    private readonly db: Db,
    private readonly cache: SessionCache,
    private readonly clock: Clock,
    private readonly refreshTtl: number,
  ) {}

  /**
   * Opens a session inside the caller's transaction, with its first refresh token. The id and token
   * are made here, so they are known before the insert is answered: the caller can send the rest of
   * its transaction (a sign-in's audit entry) in the same round trip, and await `written` with it.
   */
  start(
    tx: Executor,
    userId: string,
    client: ClientInfo,
  ): { sessionId: string; refreshToken: string; written: Promise<void> } {
    const now = this.clock.now();
    const sessionId = uuidv7();
    const refreshToken = randomToken(32);
    const written = repo.insertSessionWithToken(tx, {
      id: sessionId,
      userId,
      ip: client.ip ?? null,
      userAgent: client.userAgent?.slice(0, 512) ?? null,
      at: now,
      expiresAt: addSeconds(now, this.refreshTtl),
      tokenHash: sha256(refreshToken),
    });
    return { sessionId, refreshToken, written };
  }

  /**
   * Trades a refresh token for a new one. Of any number of concurrent calls with one token at most
   * one succeeds; the others see a used token, which counts as reuse and revokes the session.
   *
   * @throws UnauthenticatedError token_invalid: unknown, used, revoked or expired token
   */
  async rotate(
    refreshToken: string,
    client: ClientInfo,
  ): Promise<{ session: { id: string; userId: string }; refreshToken: string }> {
    const tokenHash = sha256(refreshToken);
    const now = this.clock.now();
    const next = randomToken(32);
    const { spent, session } = await repo.rotateRefreshToken(this.db, {
      tokenHash,
      nextHash: sha256(next),
      at: now,
      expiresAt: addSeconds(now, this.refreshTtl),
      ip: client.ip ?? null,
    });
    if (!spent) {
      // Unknown, or used before: a used token presented again ends its session.
      const owner = await this.db.transaction(async (tx) => {
        const id = await repo.findSessionIdOfRefreshToken(tx, tokenHash);
        if (id) await this.#revoke(tx, id, 'refresh_reuse');
        return id;
      });
      if (owner) this.cache.invalidateSession(owner);
    }
    if (!session) throw invalidRefresh();
    return { session, refreshToken: next };
  }

  /**
   * The user a refresh token would refresh, when it is unused and its session live. Spends nothing,
   * so a request can be refused (say, a tenant the user is not in) while the token stays good.
   */
  peekRefreshTokenUser(refreshToken: string): Promise<string | undefined> {
    return repo.findLiveRefreshTokenUser(this.db, sha256(refreshToken), this.clock.now());
  }

  /** The user's live sessions, most recently used first. */
  list(userId: string): Promise<SessionRow[]> {
    return repo.listLiveSessions(this.db, userId, this.clock.now());
  }

  /** Ends one session; its access tokens fail on the next request, on every instance. */
  async revoke(sessionId: string, reason: RevokeReason, tx: Executor = this.db): Promise<void> {
    await this.#revoke(tx, sessionId, reason);
    this.cache.invalidateSession(sessionId);
  }

  /**
   * Ends one of the user's own sessions.
   * @throws NotFoundError when the session is not the user's (or does not exist)
   */
  async revokeOwn(userId: string, sessionId: string): Promise<void> {
    const session = await repo.findSession(this.db, sessionId);
    if (!session || session.userId !== userId || session.revokedAt)
      throw new NotFoundError('Session not found');
    await this.revoke(sessionId, 'revoked');
  }

  /**
   * Ends every session of a user but `except`, in the caller's transaction. The caller must call
   * `afterUserChange` once the transaction has committed.
   */
  async endUserSessions(tx: Executor, userId: string, reason: RevokeReason, except?: string): Promise<void> {
    await repo.revokeUserSessions(tx, userId, this.clock.now(), reason, except);
    await notify(tx, SESSIONS_CHANNEL, `user:${userId}`);
  }

  /**
   * The signed-in user's row, from the session cache (no query while cached).
   * @throws NotFoundError when the session ended or the user went since the request was authenticated
   */
  async currentUser(userId: string, sessionId: string): Promise<UserRow> {
    const state = await this.cache.isLive(sessionId, userId);
    if (!state) throw new NotFoundError('User not found');
    return state.user;
  }

  /** The user a session belongs to (ended or not), from the session cache. */
  async userOf(sessionId: string): Promise<UserRow | undefined> {
    return (await this.cache.get(sessionId))?.user;
  }

  /**
   * Drops this instance's cached state at once, without waiting for its own notification: call it
   * after committing any change to a users row (other instances hear of it from the trigger).
   */
  afterUserChange(userId: string): void {
    this.cache.invalidateUser(userId);
  }

  async #revoke(tx: Executor, sessionId: string, reason: RevokeReason): Promise<void> {
    await repo.revokeSession(tx, sessionId, this.clock.now(), reason);
    await notify(tx, SESSIONS_CHANNEL, `session:${sessionId}`);
  }
}
