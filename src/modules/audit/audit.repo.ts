import { and, asc, desc, eq, gt, gte, isNull, lt, lte, type SQL, sql } from 'drizzle-orm';
import { type AuditRow, auditAnchors, auditLog } from '../../db/schema/index.js';
import { type Executor, literalLimit, queryRows, Statement } from '../../platform/db.js';
import { pageLimit } from '../../platform/pagination.js';
import type { ChainedFields } from './audit.chain.js';

/** A log: a tenant's (its id), or the platform's (null). */
export type LogId = string | null;

/** The key of a log in audit_anchors and in its advisory lock. */
export const logKey = (log: LogId): string => log ?? 'platform';

/** First of the two advisory-lock keys: the class "audit log append". The second is the log's hash. */
const AUDIT_LOCK_CLASS = 0x7e55e7d;

const inLog = (log: LogId): SQL => (log === null ? isNull(auditLog.tenantId) : eq(auditLog.tenantId, log));

/**
 * Newest position first, as a backward scan of the (tenant_id, seq) key. The tenant_id term matters
 * for the platform log: PostgreSQL does not take `tenant_id IS NULL` as fixing the column for
 * ordering, so `order by seq desc` alone sorted every platform entry on each append (a sequential
 * scan and a sort, 33 ms at 100,000 entries against 0.04 ms; test/hot-path-explain.test.ts).
 */
const newestFirst = [desc(auditLog.tenantId), desc(auditLog.seq)];

/**
 * Serialises appends (and purges) of one log until the transaction ends: two writers never read the
 * same head, so the chain cannot fork. Different logs rarely share a lock (a hashtext collision only
 * makes them wait for each other).
 */
export async function lockLog(tx: Executor, log: LogId): Promise<void> {
  await tx.execute(lockLogSql.bind({ key: logKey(log) }));
}

const lockLogSql = new Statement<{ key: string }>(
  sql`select pg_advisory_xact_lock(${AUDIT_LOCK_CLASS}::int, hashtext(${sql.placeholder('key')}))`,
);

/**
 * The newest entry of the log (by position), if any is left. Built once, as insertEntry: every
 * audited write runs both, and drizzle building them per call was a visible share of a sign-in.
 */
export async function lastEntry(
  tx: Executor,
  log: LogId,
): Promise<{ id: string; seq: number; hash: string } | undefined> {
  const [row] = await queryRows<{ id: string; seq: string | number | bigint; hash: string }>(
    tx,
    log === null ? lastPlatformEntrySql.bind({}) : lastTenantEntrySql.bind({ log }),
  );
  // bigint: postgres.js hands it over as text, PGlite as a BigInt.
  return row && { id: row.id, seq: Number(row.seq), hash: row.hash };
}

const lastEntryOf = (where: SQL) =>
  sql`select id, seq, hash from ${auditLog} where ${where} order by tenant_id desc, seq desc limit 1`;
const lastPlatformEntrySql = new Statement<Record<string, never>>(lastEntryOf(sql`tenant_id is null`));
const lastTenantEntrySql = new Statement<{ log: string }>(
  lastEntryOf(sql`tenant_id = ${sql.placeholder('log')}`),
);

export async function findAnchor(tx: Executor, log: LogId) {
  const [row] = await tx
    .select()
    .from(auditAnchors)
    .where(eq(auditAnchors.logId, logKey(log)));
  return row;
}

/** A new entry: the fields its hash covers, and the two hashes of the chain. */
export interface NewEntry extends ChainedFields {
  actorType: AuditRow['actorType'];
  prevHash: string;
  hash: string;
}

export async function insertEntry(tx: Executor, row: NewEntry): Promise<void> {
  await tx.execute(
    insertEntrySql.bind({
      ...row,
      occurredAt: row.occurredAt.toISOString(),
      metadata: JSON.stringify(row.metadata),
    }),
  );
}

// Raw SQL gets no column mapping: the time goes as ISO text and the metadata as JSON text, which
// is what drizzle would have sent.
const insertEntrySql = new Statement<
  Omit<NewEntry, 'occurredAt' | 'metadata'> & { occurredAt: string; metadata: string }
>(
  sql`insert into ${auditLog} (id, tenant_id, seq, occurred_at, actor_type, actor_id, action,
        target_type, target_id, ip, user_agent, metadata, prev_hash, hash)
      values (${sql.placeholder('id')}, ${sql.placeholder('tenantId')}::uuid, ${sql.placeholder('seq')},
        ${sql.placeholder('occurredAt')}::timestamptz, ${sql.placeholder('actorType')},
        ${sql.placeholder('actorId')}::uuid, ${sql.placeholder('action')}, ${sql.placeholder('targetType')}::text,
        ${sql.placeholder('targetId')}::text, ${sql.placeholder('ip')}::text, ${sql.placeholder('userAgent')}::text,
        ${sql.placeholder('metadata')}::jsonb, ${sql.placeholder('prevHash')}, ${sql.placeholder('hash')})`,
);

export interface ListFilter {
  action?: string | undefined;
  actorId?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  before?: string | undefined;
  limit: number;
}

/** A page of the log, newest first (keyset on the UUIDv7 id, as every list). */
export function listEntries(db: Executor, log: LogId, filter: ListFilter): Promise<AuditRow[]> {
  const conditions = [
    inLog(log),
    filter.action !== undefined ? eq(auditLog.action, filter.action) : undefined,
    filter.actorId !== undefined ? eq(auditLog.actorId, filter.actorId) : undefined,
    filter.since !== undefined ? gte(auditLog.occurredAt, filter.since) : undefined,
    filter.until !== undefined ? lte(auditLog.occurredAt, filter.until) : undefined,
    filter.before !== undefined ? lt(auditLog.id, filter.before) : undefined,
  ];
  return db
    .select()
    .from(auditLog)
    .where(and(...conditions))
    .orderBy(desc(auditLog.id))
    .limit(pageLimit(filter.limit));
}

/** Entries after `afterSeq`, in chain order. */
export function entriesAfter(db: Executor, log: LogId, afterSeq: number, limit: number): Promise<AuditRow[]> {
  return db
    .select()
    .from(auditLog)
    .where(and(inLog(log), gt(auditLog.seq, afterSeq)))
    .orderBy(asc(auditLog.seq))
    .limit(literalLimit(limit));
}

/** The logs holding an entry older than `cutoff`. */
export async function logsOlderThan(db: Executor, cutoff: Date): Promise<LogId[]> {
  const rows = await db
    .selectDistinct({ tenantId: auditLog.tenantId })
    .from(auditLog)
    .where(lt(auditLog.occurredAt, cutoff));
  return rows.map((r) => r.tenantId);
}

/** The newest entry (by position) older than `cutoff`: everything up to it goes. */
export async function lastOlderThan(tx: Executor, log: LogId, cutoff: Date) {
  const [row] = await tx
    .select({ id: auditLog.id, seq: auditLog.seq, hash: auditLog.hash })
    .from(auditLog)
    .where(and(inLog(log), lt(auditLog.occurredAt, cutoff)))
    .orderBy(...newestFirst)
    .limit(literalLimit(1));
  return row;
}

export async function deleteUpTo(tx: Executor, log: LogId, seq: number): Promise<number> {
  const rows = await tx
    .delete(auditLog)
    .where(and(inLog(log), lte(auditLog.seq, seq)))
    .returning({ id: auditLog.id });
  return rows.length;
}

export async function saveAnchor(
  tx: Executor,
  log: LogId,
  anchor: { lastSeq: number; lastHash: string; lastEntryId: string; purgedAt: Date },
): Promise<void> {
  await tx
    .insert(auditAnchors)
    .values({ logId: logKey(log), ...anchor })
    .onConflictDoUpdate({ target: auditAnchors.logId, set: anchor });
}
