import { and, desc, eq, gt, isNull, ne } from 'drizzle-orm';
import { refreshTokens, type SessionRow, sessions } from '../../db/schema/index.js';
import type { Executor } from '../../platform/db.js';

export async function insertSession(tx: Executor, values: typeof sessions.$inferInsert): Promise<SessionRow> {
  const [row] = await tx.insert(sessions).values(values).returning();
  return row!;
}

export async function insertRefreshToken(
  tx: Executor,
  sessionId: string,
  tokenHash: string,
  at: Date,
): Promise<void> {
  await tx.insert(refreshTokens).values({ tokenHash, sessionId, createdAt: at });
}

/**
 * Marks a refresh token used. Only one of any number of concurrent callers gets the session id
 * back: the row is updated only while `used_at` is null, and PostgreSQL serialises the updates.
 */
export async function consumeRefreshToken(
  tx: Executor,
  tokenHash: string,
  at: Date,
): Promise<string | undefined> {
  const [row] = await tx
    .update(refreshTokens)
    .set({ usedAt: at })
    .where(and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.usedAt)))
    .returning({ sessionId: refreshTokens.sessionId });
  return row?.sessionId;
}

/** The session a (used) refresh token belongs to, for reuse detection. */
export async function findSessionIdOfRefreshToken(
  tx: Executor,
  tokenHash: string,
): Promise<string | undefined> {
  const [row] = await tx
    .select({ sessionId: refreshTokens.sessionId })
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, tokenHash));
  return row?.sessionId;
}

/**
 * The user of a refresh token that is unused and whose session is live, without spending it; for
 * checks that must pass before a refresh may spend the token.
 */
export async function findLiveRefreshTokenUser(
  tx: Executor,
  tokenHash: string,
  now: Date,
): Promise<string | undefined> {
  const [row] = await tx
    .select({ userId: sessions.userId })
    .from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .where(
      and(
        eq(refreshTokens.tokenHash, tokenHash),
        isNull(refreshTokens.usedAt),
        isNull(sessions.revokedAt),
        gt(sessions.expiresAt, now),
      ),
    );
  return row?.userId;
}

export async function findSession(tx: Executor, id: string): Promise<SessionRow | undefined> {
  const [row] = await tx.select().from(sessions).where(eq(sessions.id, id));
  return row;
}

/**
 * Slides a live session's expiry and records its use, in one statement: the row as renewed, or
 * undefined when the session is gone, revoked or expired. The IP stays as it was when not given.
 */
export async function renewLiveSession(
  tx: Executor,
  id: string,
  at: Date,
  expiresAt: Date,
  ip: string | null,
): Promise<SessionRow | undefined> {
  const [row] = await tx
    .update(sessions)
    .set({ lastUsedAt: at, expiresAt, ...(ip === null ? {} : { ip }) })
    .where(and(eq(sessions.id, id), isNull(sessions.revokedAt), gt(sessions.expiresAt, at)))
    .returning();
  return row;
}

export async function revokeSession(tx: Executor, id: string, at: Date, reason: string): Promise<boolean> {
  const rows = await tx
    .update(sessions)
    .set({ revokedAt: at, revokedReason: reason })
    .where(and(eq(sessions.id, id), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id });
  return rows.length > 0;
}

/** Revokes every live session of a user, but `exceptSessionId` when given. */
export async function revokeUserSessions(
  tx: Executor,
  userId: string,
  at: Date,
  reason: string,
  exceptSessionId?: string,
): Promise<string[]> {
  const rows = await tx
    .update(sessions)
    .set({ revokedAt: at, revokedReason: reason })
    .where(
      and(
        eq(sessions.userId, userId),
        isNull(sessions.revokedAt),
        exceptSessionId ? ne(sessions.id, exceptSessionId) : undefined,
      ),
    )
    .returning({ id: sessions.id });
  return rows.map((r) => r.id);
}

export async function listLiveSessions(tx: Executor, userId: string, now: Date): Promise<SessionRow[]> {
  return tx
    .select()
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
    .orderBy(desc(sessions.lastUsedAt))
    .limit(1000);
}
