import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import type { AuditRow } from '../../db/schema/index.js';
import { queryRows } from '../../platform/db.js';

/** Entries in one log (a tenant's, or the platform's with null), counted straight in the table. */
export async function countEntries(app: FastifyInstance, tenantId: string | null): Promise<number> {
  const [row] = await queryRows<{ n: number }>(
    app.container.db,
    tenantId === null
      ? sql`select count(*)::int as n from audit_log where tenant_id is null`
      : sql`select count(*)::int as n from audit_log where tenant_id = ${tenantId}`,
  );
  return Number(row!.n);
}

export async function countAll(app: FastifyInstance): Promise<number> {
  const [row] = await queryRows<{ n: number }>(
    app.container.db,
    sql`select count(*)::int as n from audit_log`,
  );
  return Number(row!.n);
}

/** One log's rows in chain order, as stored. */
export async function chainOf(app: FastifyInstance, tenantId: string | null): Promise<AuditRow[]> {
  const { auditLog } = await import('../../db/schema/index.js');
  const { asc, eq, isNull } = await import('drizzle-orm');
  return app.container.db
    .select()
    .from(auditLog)
    .where(tenantId === null ? isNull(auditLog.tenantId) : eq(auditLog.tenantId, tenantId))
    .orderBy(asc(auditLog.seq));
}

/**
 * What an attacker with the database does: the append-only trigger is switched off for the one
 * statement (the table's owner can), then on again.
 */
export async function tamper(app: FastifyInstance, statement: ReturnType<typeof sql>): Promise<void> {
  await app.container.db.transaction(async (tx) => {
    await tx.execute(sql`alter table audit_log disable trigger audit_log_append_only`);
    await tx.execute(statement);
    await tx.execute(sql`alter table audit_log enable trigger audit_log_append_only`);
  });
}
