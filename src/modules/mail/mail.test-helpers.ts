import { and, desc, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { SMTPServer } from 'smtp-server';
import { mailOutbox } from '../../db/schema/index.js';

/** The newest outbox mail of `kind` to `to`, opened, with the token of its link. */
export async function lastMail(app: FastifyInstance, to: string, kind?: string) {
  const { db, outbox } = app.container;
  const [row] = await db
    .select()
    .from(mailOutbox)
    .where(and(eq(mailOutbox.recipient, to.toLowerCase()), kind ? eq(mailOutbox.kind, kind) : undefined))
    .orderBy(desc(mailOutbox.id))
    .limit(1);
  if (!row) return undefined;
  const body = outbox.open(row);
  return { row, ...body, link: linkOf(body.text), token: tokenOf(body.text) };
}

export function linkOf(text: string): string {
  const match = /https?:\/\/\S+token=[\w-]+/.exec(text);
  if (!match) throw new Error(`no link in mail: ${text}`);
  return match[0];
}

export function tokenOf(text: string): string {
  return new URL(linkOf(text)).searchParams.get('token') as string;
}

/** Waits until `check` answers something (polling), or fails after `ms`. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  ms = 10_000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
}

/** A real SMTP server on loopback, collecting what it receives. */
export async function startSmtpServer(
  port = 0,
): Promise<{ port: number; received: ReceivedMail[]; close(): Promise<void> }> {
  const received: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The plain-text part of a raw MIME message, decoded from quoted-printable. */
export function textPart(raw: string): string {
  const unfolded = raw.replace(/=\r?\n/g, '');
  return unfolded.replace(/=([0-9A-F]{2})/g, (_m, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}
