import type { AuditRow } from '../../db/schema/index.js';
import type { Clock } from '../../domain/clock.js';
import { nextId, uuidv7 } from '../../domain/ids.js';
import type { Db, Executor } from '../../platform/db.js';
import { decodeCursor, type Page, toPage } from '../../platform/pagination.js';
import { entryHash, GENESIS_HASH, secretKeysIn } from './audit.chain.js';
import type { LogId } from './audit.repo.js';
import * as repo from './audit.repo.js';
import type { AuditEntryView, AuditListQuery, AuditVerification } from './audit.schemas.js';
import type { AuditContext } from './audit-context.js';

/** What a service tells the log; who and from where come from the AuditContext. */
export interface AuditEntry {
  /** The tenant whose log gets the entry; null for the platform log. */
  tenantId: string | null;
  /** `resource.verb`: tenant.updated, member.roles_replaced, auth.sign_in, ... */
  action: string;
  target?: { type: string; id: string | null };
  /** Facts about the change. Never a secret: keys naming one (password, token, hash, ...) are refused. */
  metadata?: Record<string, unknown>;
}

interface Head {
  id: string | null;
  seq: number;
  hash: string;
}

/** Entries read per query while verifying a chain. */
const VERIFY_BATCH = 1000;
const PURGE_INTERVAL_MS = 60 * 60 * 1000;

interface Logger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export function toEntryView(row: AuditRow): AuditEntryView {
  return {
    id: row.id,
    tenantId: row.tenantId,
    occurredAt: row.occurredAt.toISOString(),
    actor: { type: row.actorType, id: row.actorId },
    action: row.action,
    target: { type: row.targetType, id: row.targetId },
    ip: row.ip,
    userAgent: row.userAgent,
    metadata: row.metadata,
    hash: row.hash,
  };
}

/**
 * The tamper-evident audit log. `record` runs inside the transaction of the change it describes, so
 * an entry exists exactly when the change committed. Each log (a tenant's, or the platform's) is a
 * hash chain: appends to one log take its advisory lock and read the head under it, so concurrent
 * writers queue and the chain never forks (the unique (tenant_id, seq) index refuses a fork anyway).
 */
export class AuditService {
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly options: { retentionDays: number | undefined },
  ) {}

  /**
   * Appends one entry to its log in the caller's transaction. Call it last in the transaction: the
   * log's lock is held until commit, so the less that follows, the less appends of that log wait.
   */
  async record(tx: Executor, ctx: AuditContext, entry: AuditEntry): Promise<void> {
    const metadata = entry.metadata ?? {};
    const secrets = secretKeysIn(metadata);
    if (secrets.length > 0) throw new Error(`Audit metadata must hold no secret: ${secrets.join(', ')}`);
    const log = entry.tenantId;
    const head = await this.#lockedHead(tx, log);
    const occurredAt = this.clock.now();
    const fields = {
      // Ids increase along a log, so its pages (newest first by id) list entries in chain order, even
      // for an entry made in the previous one's millisecond or behind it (another instance's clock).
      id: nextId(uuidv7(occurredAt.getTime()), head.id),
      tenantId: log,
      seq: head.seq + 1,
      occurredAt,
      actorType: ctx.actor.type,
      actorId: ctx.actor.id,
      action: entry.action,
      targetType: entry.target?.type ?? null,
      targetId: entry.target?.id ?? null,
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      metadata,
    };
    await repo.insertEntry(tx, { ...fields, prevHash: head.hash, hash: entryHash(head.hash, fields) });
  }

  /** `record` in a transaction of its own, for events that change nothing else (a failed sign-in). */
  recordNow(ctx: AuditContext, entry: AuditEntry): Promise<void> {
    return this.db.transaction((tx) => this.record(tx, ctx, entry));
  }

  /** A page of one log, newest first. */
  async list(log: LogId, query: AuditListQuery): Promise<Page<AuditEntryView>> {
    const rows = await repo.listEntries(this.db, log, {
      action: query.action,
      actorId: query.actorId,
      since: query.since === undefined ? undefined : new Date(query.since),
      until: query.until === undefined ? undefined : new Date(query.until),
      before: decodeCursor(query.cursor),
      limit: query.limit,
    });
    return toPage(rows, query.limit, toEntryView);
  }

  /**
   * Recomputes the log's chain from its anchor (the last purged entry, or the genesis hash): every
   * entry must sit at the next position, name the previous entry's hash, and hash to its own `hash`.
   * Read in one snapshot, so appends and purges running meanwhile do not disturb it.
   */
  verify(log: LogId): Promise<AuditVerification> {
    return this.db.transaction(
      async (tx) => {
        let head = await this.#anchor(tx, log);
        let checked = 0;
        for (;;) {
          const rows = await repo.entriesAfter(tx, log, head.seq, VERIFY_BATCH);
          for (const row of rows) {
            checked++;
            const valid =
              row.seq === head.seq + 1 &&
              row.prevHash === head.hash &&
              entryHash(head.hash, row) === row.hash;
            if (!valid) return { valid: false, checked, firstInvalidId: row.id };
            head = { id: row.id, seq: row.seq, hash: row.hash };
          }
          if (rows.length < VERIFY_BATCH) return { valid: true, checked, firstInvalidId: null };
        }
      },
      { isolationLevel: 'repeatable read', accessMode: 'read only' },
    );
  }

  /**
   * AUDIT_RETENTION_DAYS: deletes, log by log, the entries older than the cutoff, and keeps the hash
   * of the last one deleted as the log's anchor, so the rest still verifies. No retention: keeps all.
   */
  async purge(): Promise<{ deleted: number }> {
    if (this.options.retentionDays === undefined) return { deleted: 0 };
    const now = this.clock.now();
    const cutoff = new Date(now.getTime() - this.options.retentionDays * 86_400_000);
    let deleted = 0;
    for (const log of await repo.logsOlderThan(this.db, cutoff)) {
      deleted += await this.db.transaction(async (tx) => {
        await repo.lockLog(tx, log);
        const last = await repo.lastOlderThan(tx, log, cutoff);
        if (!last) return 0;
        const count = await repo.deleteUpTo(tx, log, last.seq);
        await repo.saveAnchor(tx, log, {
          lastSeq: last.seq,
          lastHash: last.hash,
          lastEntryId: last.id,
          purgedAt: now,
        });
        return count;
      });
    }
    return { deleted };
  }

  /** Runs the purge now and then hourly while the app runs (nothing without AUDIT_RETENTION_DAYS). */
  startPurging(log: Logger): void {
    if (this.options.retentionDays === undefined || this.#timer) return;
    const run = () => {
      this.purge()
        .then(({ deleted }) => {
          if (deleted > 0) log.info({ deleted }, 'audit log entries past retention purged');
        })
        .catch((error: unknown) => log.error({ err: error }, 'audit log purge failed'));
    };
    this.#timer = setInterval(run, PURGE_INTERVAL_MS);
    this.#timer.unref();
    run();
  }

  stopPurging(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Takes the log's append lock, then reads its head, in one round trip: both statements go out in
   * one write, and the connection runs them in order, so the read starts once the lock is held and
   * (READ COMMITTED: a snapshot per statement) sees every append that committed before.
   */
  async #lockedHead(tx: Executor, log: LogId): Promise<Head> {
    const [, last] = await Promise.all([repo.lockLog(tx, log), repo.lastEntry(tx, log)]);
    return last ?? this.#anchor(tx, log);
  }

  async #anchor(tx: Executor, log: LogId): Promise<Head> {
    const anchor = await repo.findAnchor(tx, log);
    return anchor
      ? { id: anchor.lastEntryId, seq: anchor.lastSeq, hash: anchor.lastHash }
      : { id: null, seq: 0, hash: GENESIS_HASH };
  }
}

/** What modules built before the log (auth, signing keys) are given: appending only. */
export type AuditRecorder = Pick<AuditService, 'record' | 'recordNow'>;

/** The default of a recorder slot the container has not filled: fails closed, never drops an entry. */
export const unwiredAudit: AuditRecorder = {
  record: () => Promise.reject(new Error('The audit log is not wired')),
  recordNow: () => Promise.reject(new Error('The audit log is not wired')),
};
