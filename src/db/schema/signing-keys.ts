import { jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { createdAt, timestamptz } from './columns.js';

/**
 * JWT signing keys live in the database so every instance signs and verifies alike. The private
 * half is sealed with SECRET_KEY. The newest key without `retired_at` signs; a retired key stays
 * published in the JWKS until every token it signed has expired.
 */
export const signingKeys = pgTable('signing_keys', {
  /** The JWT `kid`. */
  id: text('id').primaryKey(),
  algorithm: text('algorithm').notNull(),
  publicJwk: jsonb('public_jwk').notNull().$type<Record<string, unknown>>(),
  privateKeySealed: text('private_key_sealed').notNull(),
  createdAt: createdAt(),
  retiredAt: timestamptz('retired_at'),
});

export type SigningKeyRow = typeof signingKeys.$inferSelect;
