import { bigint, index, jsonb, pgEnum, pgTable, text, unique, uuid } from 'drizzle-orm/pg-core';
import { timestamptz } from './columns.js';

export const auditActorType = pgEnum('audit_actor_type', ['user', 'api_key', 'system']);

/**
 * The audit log, append-only: one table holding every tenant's log (`tenant_id`) and the platform
 * log (`tenant_id` null). Each entry's `hash` is SHA-256 over the previous entry's hash in the same
 * log and the entry's canonical JSON; `seq` numbers the entries of a log without gaps, so the chain
 * is walked in append order (UUIDv7 ids made in the same millisecond need not sort that way).
 * No foreign key to tenants: a deleted tenant's log stays, as evidence. `metadata` never holds a
 * secret (AuditService refuses secret-looking keys).
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: uuid('id').primaryKey(),
    tenantId: uuid('tenant_id'),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    occurredAt: timestamptz('occurred_at').notNull(),
    actorType: auditActorType('actor_type').notNull(),
    actorId: uuid('actor_id'),
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    ip: text('ip'),
    userAgent: text('user_agent'),
    metadata: jsonb('metadata').notNull().$type<Record<string, unknown>>(),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [
    // One position per log (the platform log's null tenant included): a forked chain cannot be stored.
    unique('audit_log_tenant_id_seq_key').on(t.tenantId, t.seq).nullsNotDistinct(),
    // Keyset pages of a log, newest first, and the filters that narrow them.
    index('audit_log_tenant_id_id_idx').on(t.tenantId, t.id),
    index('audit_log_tenant_id_action_id_idx').on(t.tenantId, t.action, t.id),
    index('audit_log_tenant_id_actor_id_id_idx').on(t.tenantId, t.actorId, t.id),
  ],
);

/**
 * Per log (`log_id`: the tenant id, or `platform`), where its chain starts after a retention purge:
 * the seq and hash of the last entry purged. Verification starts from here.
 */
export const auditAnchors = pgTable('audit_anchors', {
  logId: text('log_id').primaryKey(),
  lastSeq: bigint('last_seq', { mode: 'number' }).notNull(),
  lastHash: text('last_hash').notNull(),
  lastEntryId: uuid('last_entry_id').notNull(),
  purgedAt: timestamptz('purged_at').notNull(),
});

export type AuditRow = typeof auditLog.$inferSelect;
export type AuditAnchorRow = typeof auditAnchors.$inferSelect;
