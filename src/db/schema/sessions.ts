import { foreignKey, index, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { createdAt, id, timestamptz } from './columns.js';
import { users } from './users.js';

/** A sign-in: lives while its refresh tokens keep rotating, until it expires or is revoked. */
export const sessions = pgTable(
  'sessions',
  {
    id: id(),
    userId: uuid('user_id').notNull(),
    ip: text('ip'),
    userAgent: text('user_agent'),
    createdAt: createdAt(),
    lastUsedAt: timestamptz('last_used_at').notNull().defaultNow(),
    /** Sliding: every refresh moves it to now + REFRESH_TOKEN_TTL. */
    expiresAt: timestamptz('expires_at').notNull(),
    revokedAt: timestamptz('revoked_at'),
    /** logout, revoked, password_changed, deactivated, refresh_reuse */
    revokedReason: text('revoked_reason'),
  },
  (t) => [
    index('sessions_user_id_idx').on(t.userId),
    foreignKey({ name: 'sessions_user_id_fkey', columns: [t.userId], foreignColumns: [users.id] }).onDelete(
      'cascade',
    ),
  ],
);

/**
 * Every refresh token a session was ever given, by SHA-256 hash. A token is used by setting
 * `used_at` where it is null, which only one of any number of concurrent refreshes can do; a used
 * token presented again is reuse and ends the session.
 */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    sessionId: uuid('session_id').notNull(),
    createdAt: createdAt(),
    usedAt: timestamptz('used_at'),
  },
  (t) => [
    index('refresh_tokens_session_id_idx').on(t.sessionId),
    foreignKey({
      name: 'refresh_tokens_session_id_fkey',
      columns: [t.sessionId],
      foreignColumns: [sessions.id],
    }).onDelete('cascade'),
  ],
);

export type SessionRow = typeof sessions.$inferSelect;
