import { and, count, eq, gt, sql } from 'drizzle-orm';
import { type MailOutboxRow, mailOutbox } from '../../db/schema/index.js';
import type { SecretBox } from '../../domain/secrets.js';
import { type Executor, queryRows } from '../../platform/db.js';
import type { MailKind, RenderedMail } from './mail.templates.js';

export interface ClaimedMail {
  id: string;
  kind: string;
  recipient: string;
  subject: string;
  text: string;
  html: string;
  attempts: number;
}

/** How long a claimed mail stays invisible to other senders: far longer than one SMTP exchange. */
const LEASE_SECONDS = 300;

/**
 * The mail outbox. `enqueue` runs in the caller's transaction, so the mail exists exactly when the
 * change that causes it commits. Bodies are sealed: they hold tokens.
 */
export class MailOutbox {
  /** Called after a commit that queued mail, so the sender does not wait for its next poll. */
  onEnqueued: () => void = () => {};

  constructor(private readonly box: SecretBox) {}

  async enqueue(
    tx: Executor,
    mail: RenderedMail & { kind: MailKind; to: string; userId?: string | null },
  ): Promise<void> {
    await tx.insert(mailOutbox).values({
      kind: mail.kind,
      recipient: mail.to,
      subject: mail.subject,
      sealedBody: this.box.encrypt(JSON.stringify({ text: mail.text, html: mail.html })),
      userId: mail.userId ?? null,
    });
  }

  /** Mail of `kind` about `userId` queued in the last `seconds`: per-account limits count these. */
  async countRecent(tx: Executor, userId: string, kind: MailKind, seconds: number): Promise<number> {
    const [row] = await tx
      .select({ n: count() })
      .from(mailOutbox)
      .where(
        and(
          eq(mailOutbox.userId, userId),
          eq(mailOutbox.kind, kind),
          gt(mailOutbox.createdAt, sql`now() - make_interval(secs => ${seconds})`),
        ),
      );
    return Number(row?.n ?? 0);
  }

  /**
   * Claims up to `limit` due mails. `FOR UPDATE SKIP LOCKED` lets concurrent senders each take
   * different rows, and moving `next_attempt_at` forward leases them: no other sender sees them
   * until the lease ends, which only happens if this one died mid-send.
   */
  async claim(tx: Executor, limit: number): Promise<ClaimedMail[]> {
    const rows = await queryRows<{
      id: string;
      kind: string;
      recipient: string;
      subject: string;
      sealed_body: string;
      attempts: number;
    }>(
      tx,
      sql`update ${mailOutbox}
          set next_attempt_at = now() + make_interval(secs => ${LEASE_SECONDS}), attempts = attempts + 1
          where id in (
            select id from ${mailOutbox}
            where status = 'pending' and next_attempt_at <= now()
            order by next_attempt_at
            limit ${limit}
            for update skip locked)
          returning id, kind, recipient, subject, sealed_body, attempts`,
    );
    return rows.map((row) => {
      const body = JSON.parse(this.box.decrypt(row.sealed_body)) as { text: string; html: string };
      return {
        id: row.id,
        kind: row.kind,
        recipient: row.recipient,
        subject: row.subject,
        attempts: Number(row.attempts),
        ...body,
      };
    });
  }

  async markDelivered(tx: Executor, id: string, status: 'sent' | 'logged'): Promise<void> {
    await tx
      .update(mailOutbox)
      .set({ status, sentAt: sql`now()`, lastError: null })
      .where(eq(mailOutbox.id, id));
  }

  /** Schedules another attempt after `retryInMs`, or gives up (`failed`). */
  async markFailed(tx: Executor, id: string, error: string, retryInMs: number | null): Promise<void> {
    await tx
      .update(mailOutbox)
      .set({
        lastError: error.slice(0, 500),
        ...(retryInMs === null
          ? { status: 'failed' as const }
          : { nextAttemptAt: sql`now() + make_interval(secs => ${retryInMs / 1000})` }),
      })
      .where(eq(mailOutbox.id, id));
  }

  /** The sealed row, opened: for tests and operators. */
  open(row: Pick<MailOutboxRow, 'sealedBody'>): { text: string; html: string } {
    return JSON.parse(this.box.decrypt(row.sealedBody)) as { text: string; html: string };
  }
}
