import { bigint, foreignKey, index, integer, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { createdAt, id, timestamptz, updatedAt } from './columns.js';
import { users } from './users.js';

/**
 * A user's TOTP authenticator (RFC 6238). Pending from setup until a valid code enables it. The
 * secret is sealed with SecretBox (purpose `totp`): a dump of this table reveals no secret.
 * `last_used_step` is the time-step of the last accepted code; a code is accepted only by raising
 * it (`... where last_used_step < $step`), so no code works twice, even under concurrency.
 */
export const totpAuthenticators = pgTable(
  'totp_authenticators',
  {
    userId: uuid('user_id').primaryKey(),
    secretSealed: text('secret_sealed').notNull(),
    /** Null while pending (set up, not yet confirmed with a code). */
    enabledAt: timestamptz('enabled_at'),
    lastUsedStep: bigint('last_used_step', { mode: 'number' }).notNull().default(-1),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    foreignKey({
      name: 'totp_authenticators_user_id_fkey',
      columns: [t.userId],
      foreignColumns: [users.id],
    }).onDelete('cascade'),
  ],
);

/** Recovery codes, each an Argon2id hash (the codes carry < 112 bits, ASVS 6.5.2); used once. */
export const recoveryCodes = pgTable(
  'recovery_codes',
  {
    id: id(),
    userId: uuid('user_id').notNull(),
    codeHash: text('code_hash').notNull(),
    createdAt: createdAt(),
    usedAt: timestamptz('used_at'),
  },
  (t) => [
    index('recovery_codes_user_id_idx').on(t.userId),
    foreignKey({
      name: 'recovery_codes_user_id_fkey',
      columns: [t.userId],
      foreignColumns: [users.id],
    }).onDelete('cascade'),
  ],
);

/**
 * The second step of a sign-in, one row per `mfaToken` (its `jti`). Makes the token single use
 * (`used_at`) and bounds the codes tried with it (`attempts`), independently of the sign-in limits.
 */
export const mfaChallenges = pgTable(
  'mfa_challenges',
  {
    jti: text('jti').primaryKey(),
    userId: uuid('user_id').notNull(),
    attempts: integer('attempts').notNull().default(0),
    createdAt: createdAt(),
    expiresAt: timestamptz('expires_at').notNull(),
    usedAt: timestamptz('used_at'),
  },
  (t) => [
    index('mfa_challenges_user_id_idx').on(t.userId),
    index('mfa_challenges_expires_at_idx').on(t.expiresAt),
    foreignKey({
      name: 'mfa_challenges_user_id_fkey',
      columns: [t.userId],
      foreignColumns: [users.id],
    }).onDelete('cascade'),
  ],
);

export type TotpAuthenticatorRow = typeof totpAuthenticators.$inferSelect;
