import { and, desc, eq, gt, isNull, ne, sql } from 'drizzle-orm';
import { refreshTokens, type SessionRow, sessions } from '../../db/schema/index.js';
import { type Executor, literalLimit, queryRows, Statement } from '../../platform/db.js';

/**
 * A new session and its first refresh token in one statement, so one round trip on every sign-in.
 * The session's id is made in code, so the token's row names it without waiting for a RETURNING;
 * the foreign key is checked at the end of the statement, when the session's row is there.
 * Raw SQL gets no column mapping: timestamps go as ISO text, as in rotateRefreshToken.
 */
const insertSessionWithTokenSql = new Statement<{
  id: string;
  userId: string;
  ip: string | null;
  userAgent: string | null;
  at: string;
  expiresAt: string;
  tokenHash: string;
}>(
  sql`with session as (
        insert into ${sessions} (id, user_id, ip, user_agent, created_at, last_used_at, expires_at)
        values (${sql.placeholder('id')}, ${sql.placeholder('userId')}, ${sql.placeholder('ip')}::text,
          ${sql.placeholder('userAgent')}::text, ${sql.placeholder('at')}::timestamptz,
          ${sql.placeholder('at')}::timestamptz, ${sql.placeholder('expiresAt')}::timestamptz)
      )
      insert into ${refreshTokens} (token_hash, session_id, created_at)
      values (${sql.placeholder('tokenHash')}, ${sql.placeholder('id')}, ${sql.placeholder('at')}::timestamptz)`,
);

export async function insertSessionWithToken(
  tx: Executor,
  values: {
    id: string;
    userId: string;
    ip: string | null;
    userAgent: string | null;
    at: Date;
    expiresAt: Date;
    tokenHash: string;
  },
): Promise<void> {
  await tx.execute(
    insertSessionWithTokenSql.bind({
      ...values,
      at: values.at.toISOString(),
      expiresAt: values.expiresAt.toISOString(),
    }),
  );
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
 * A refresh in one statement, so one round trip: spends the token (only while unused: of any
 * number of concurrent callers, one gets it), renews its session when that is live (expiry slid,
 * use recorded, the IP kept when not given) and stores the next token for it. `spent` is false for
 * an unknown or already used token (reuse detection is the caller's); `session` is undefined when
 * the token was spent but its session is revoked or expired, and then no next token is stored.
 * Raw SQL gets no column mapping: timestamps go as ISO text (drizzle's postgres.js setup does not
 * serialise a Date parameter itself).
 */
const rotateRefreshTokenSql = new Statement<{
  tokenHash: string;
  nextHash: string;
  at: string;
  expiresAt: string;
  ip: string | null;
}>(
  sql`with spent as (
        update ${refreshTokens} set used_at = ${sql.placeholder('at')}::timestamptz
        where token_hash = ${sql.placeholder('tokenHash')} and used_at is null
        returning session_id
      ), renewed as (
        update ${sessions} set last_used_at = ${sql.placeholder('at')}::timestamptz,
          expires_at = ${sql.placeholder('expiresAt')}::timestamptz, ip = coalesce(${sql.placeholder('ip')}::text, ip)
        where id = (select session_id from spent) and revoked_at is null
          and expires_at > ${sql.placeholder('at')}::timestamptz
        returning id, user_id
      ), issued as (
        insert into ${refreshTokens} (token_hash, session_id, created_at)
        select ${sql.placeholder('nextHash')}::text, id, ${sql.placeholder('at')}::timestamptz from renewed
      )
      select (select session_id from spent) as spent, renewed.id, renewed.user_id
      from (select 1) as one left join renewed on true`,
);

export async function rotateRefreshToken(
  tx: Executor,
  values: { tokenHash: string; nextHash: string; at: Date; expiresAt: Date; ip: string | null },
): Promise<{ spent: boolean; session?: { id: string; userId: string } }> {
  const [row] = await queryRows<{ spent: string | null; id: string | null; user_id: string | null }>(
    tx,
    rotateRefreshTokenSql.bind({
      ...values,
      at: values.at.toISOString(),
      expiresAt: values.expiresAt.toISOString(),
    }),
  );
  if (!row?.spent) return { spent: false };
  return row.id && row.user_id
    ? { spent: true, session: { id: row.id, userId: row.user_id } }
    : { spent: true };
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
    .limit(literalLimit(1000));
}
