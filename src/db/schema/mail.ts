import { sql } from 'drizzle-orm';
import { foreignKey, index, integer, pgEnum, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { createdAt, id, timestamptz } from './columns.js';
import { users } from './users.js';

export const mailStatus = pgEnum('mail_status', ['pending', 'sent', 'logged', 'failed']);

/**
 * Mail waiting to go out, written in the transaction of the change that causes it, so a mail is
 * sent exactly when its change commits. The body is sealed (SecretBox, purpose `mail-outbox`): mails
 * carry tokens, and a dump of this table must reveal none. Senders claim rows with
 * `FOR UPDATE SKIP LOCKED` and push `next_attempt_at` forward as a lease, so several instances never
 * send one mail twice while it is in flight.
 */
export const mailOutbox = pgTable(
  'mail_outbox',
  {
    id: id(),
    /** invitation, password_reset, email_verification */
    kind: text('kind').notNull(),
    recipient: text('recipient').notNull(),
    subject: text('subject').notNull(),
    /** `{ text, html }` as JSON, sealed. */
    sealedBody: text('sealed_body').notNull(),
    status: mailStatus('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamptz('next_attempt_at').notNull().defaultNow(),
    lastError: text('last_error'),
    /** The account the mail is about, when there is one (per-account limits count these). */
    userId: uuid('user_id'),
    createdAt: createdAt(),
    sentAt: timestamptz('sent_at'),
  },
  (t) => [
    index('mail_outbox_due_idx').on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
    index('mail_outbox_user_kind_idx').on(t.userId, t.kind, t.createdAt),
    foreignKey({
      name: 'mail_outbox_user_id_fkey',
      columns: [t.userId],
      foreignColumns: [users.id],
    }).onDelete('cascade'),
  ],
);

export const userTokenPurpose = pgEnum('user_token_purpose', ['password_reset', 'email_verification']);

/**
 * Single-use emailed tokens of an account (password reset, email verification), by SHA-256 hash.
 * A token is spent by setting `used_at` where it is null, which only one concurrent request can do.
 */
export const userTokens = pgTable(
  'user_tokens',
  {
    id: id(),
    userId: uuid('user_id').notNull(),
    purpose: userTokenPurpose('purpose').notNull(),
    tokenHash: text('token_hash').notNull(),
    /** The address the token was mailed to: a verification counts only while it is still the user's. */
    email: text('email').notNull(),
    expiresAt: timestamptz('expires_at').notNull(),
    usedAt: timestamptz('used_at'),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('user_tokens_token_hash_key').on(t.tokenHash),
    index('user_tokens_user_purpose_idx').on(t.userId, t.purpose),
    foreignKey({
      name: 'user_tokens_user_id_fkey',
      columns: [t.userId],
      foreignColumns: [users.id],
    }).onDelete('cascade'),
  ],
);

export type MailOutboxRow = typeof mailOutbox.$inferSelect;
export type UserTokenRow = typeof userTokens.$inferSelect;
