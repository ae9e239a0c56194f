import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, request, type TestApp } from '../../../test/app.js';
import { openTestDatabase } from '../../../test/database.js';
import { createUser, GOOD_PASSWORD, uniqueEmail } from '../../../test/factories.js';
import { mailOutbox } from '../../db/schema/index.js';
import type { Database } from '../../platform/db.js';
import { mailLink } from './mail.templates.js';
import { eventually, lastMail, linkOf, startSmtpServer, textPart } from './mail.test-helpers.js';

const ENV = {
  AUTH_RATE_LIMIT_PER_MINUTE: '0',
  LOGIN_MAX_FAILURES: '0',
  MAIL_FROM: 'Tessera <no-reply@tessera.test>',
};

describe('mail links', () => {
  it('are built from PUBLIC_URL, keep its path, and carry the token as a query parameter', () => {
    expect(mailLink('https://id.example.com/auth', '/password/reset', 'abc-_1')).toBe(
      'https://id.example.com/auth/password/reset?token=abc-_1',
    );
    expect(mailLink('http://localhost:8000/', 'email/verify', 'x')).toBe(
      'http://localhost:8000/email/verify?token=x',
    );
  });
});

describe('delivery through a real SMTP server', () => {
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let t: TestApp;
  beforeAll(async () => {
    smtp = await startSmtpServer();
    t = await createTestApp({ env: { ...ENV, SMTP_URL: `smtp://127.0.0.1:${smtp.port}` } });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  it('sends the reset mail with a PUBLIC_URL link even under a forged Host and X-Forwarded-Host; the token works once', async () => {
    const user = await createUser(t.app);
    const response = await request(t.app, 'POST', '/v1/auth/password/forgot', {
      body: { email: user.email },
      headers: { host: 'evil.example', 'x-forwarded-host': 'evil.example', forwarded: 'host=evil.example' },
    });
    expect(response.statusCode).toBe(202);
    const mail = await eventually(() => smtp.received.find((m) => m.to.includes(user.email)));
    expect(mail.from).toBe('no-reply@tessera.test');
    const text = textPart(mail.raw);
    expect(text).not.toContain('evil.example');
    expect(text).toMatch(/Content-Type: text\/html/);
    const link = linkOf(text);
    expect(link.startsWith('http://tessera.test/password/reset?token=')).toBe(true);
    const token = new URL(link).searchParams.get('token')!;
    expect(Buffer.from(token, 'base64url').length).toBeGreaterThanOrEqual(32);

    const reset = (password: string) =>
      request(t.app, 'POST', '/v1/auth/password/reset', { body: { token, password } });
    expect((await reset('a-brand-new-password-77')).statusCode).toBe(204);
    const again = await reset('another-new-password-88');
    expect(again.statusCode).toBe(400);
    expect(again.json().code).toBe('password_reset.invalid');
    const login = await request(t.app, 'POST', '/v1/auth/login', {
      body: { email: user.email, password: 'a-brand-new-password-77' },
    });
    expect(login.statusCode).toBe(200);

    const [row] = await t.app.container.db
      .select()
      .from(mailOutbox)
      .where(eq(mailOutbox.recipient, user.email));
    expect(row!.status).toBe('sent');
    expect(row!.sentAt).not.toBeNull();
  });

  it('sends the verification mail of a sign-up', async () => {
    const email = uniqueEmail('signup');
    const response = await request(t.app, 'POST', '/v1/auth/register', {
      body: { email, password: GOOD_PASSWORD },
      headers: { 'x-forwarded-host': 'evil.example' },
    });
    expect(response.statusCode).toBe(201);
    const mail = await eventually(() => smtp.received.find((m) => m.to.includes(email)));
    const link = linkOf(textPart(mail.raw));
    expect(link.startsWith('http://tessera.test/email/verify?token=')).toBe(true);
    const token = new URL(link).searchParams.get('token')!;
    expect((await request(t.app, 'POST', '/v1/auth/email/verify', { body: { token } })).statusCode).toBe(204);
    expect((await request(t.app, 'POST', '/v1/auth/email/verify', { body: { token } })).statusCode).toBe(400);
  });
});

describe('an SMTP server that is down', () => {
  let database: Database;
  let t: TestApp;
  afterAll(async () => {
    await t?.close();
    await database?.close();
  });

  it('keeps the mail in the outbox and sends it once the server is back', async () => {
    // A port that was free a moment ago: nothing listens there yet.
    const probe = await startSmtpServer();
    const port = probe.port;
    await probe.close();
    database = await openTestDatabase();
    t = await createTestApp({ database, env: { ...ENV, SMTP_URL: `smtp://127.0.0.1:${port}` } });
    const sender = t.app.container.mailSender;
    sender.retryBaseMs = 50;
    sender.maxRetryMs = 200;
    sender.pollIntervalMs = 50;

    const user = await createUser(t.app);
    expect(
      (await request(t.app, 'POST', '/v1/auth/password/forgot', { body: { email: user.email } })).statusCode,
    ).toBe(202);
    await t.app.container.emailFlows.settled();
    const failed = await eventually(async () => {
      const mail = await lastMail(t.app, user.email, 'password_reset');
      return mail && mail.row.attempts >= 2 ? mail : undefined;
    });
    expect(failed.row.status).toBe('pending');
    expect(failed.row.lastError).toBeTruthy();

    const smtp = await startSmtpServer(port);
    try {
      const mail = await eventually(() => smtp.received.find((m) => m.to.includes(user.email)));
      expect(linkOf(textPart(mail.raw))).toBe(failed.link);
      const sent = await eventually(async () => {
        const row = await lastMail(t.app, user.email, 'password_reset');
        return row?.row.status === 'sent' ? row : undefined;
      });
      expect(sent.row.sentAt).not.toBeNull();
      // Exactly once, though the sender kept polling.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(smtp.received.filter((m) => m.to.includes(user.email))).toHaveLength(1);
    } finally {
      await smtp.close();
    }
  });

  it('never lets two senders claim one mail', async () => {
    const { outbox, db } = t.app.container;
    const emails = Array.from({ length: 30 }, () => uniqueEmail('claim'));
    await db.transaction(async (tx) => {
      for (const to of emails)
        await outbox.enqueue(tx, { kind: 'invitation', to, subject: 's', text: 't', html: '<p>h</p>' });
    });
    await t.app.container.mailSender.stop();
    const claims = await Promise.all(
      Array.from({ length: 6 }, () => db.transaction((tx) => outbox.claim(tx, 10))),
    );
    const ids = claims.flat().map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('without SMTP_URL', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: ENV });
  });
  afterAll(() => t?.close());

  it('logs the mail without its token and marks it delivered to the log', async () => {
    const user = await createUser(t.app);
    await request(t.app, 'POST', '/v1/auth/password/forgot', { body: { email: user.email } });
    await t.app.container.emailFlows.settled();
    const mail = await eventually(async () => {
      const found = await lastMail(t.app, user.email, 'password_reset');
      return found?.row.status === 'logged' ? found : undefined;
    });
    const line = t.logs.find((l) => l.mailId === mail.row.id);
    expect(line?.msg).toMatch(/delivered to the log/);
    expect(t.logText()).not.toContain(mail.token);
    expect(t.logText()).not.toContain(user.email);
  });
});
