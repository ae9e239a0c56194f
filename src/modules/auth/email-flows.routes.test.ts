import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Response, request, type TestApp } from '../../../test/app.js';
import {
  createSignedInUser,
  createTenant,
  createUser,
  GOOD_PASSWORD,
  uniqueEmail,
} from '../../../test/factories.js';
import { mailOutbox, users } from '../../db/schema/index.js';
import { queryRows } from '../../platform/db.js';
import { ADDRESS_BUDGETS } from '../../platform/limits/limits.js';
import { lastMail } from '../mail/mail.test-helpers.js';

const ENV = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };

function expectProblem(response: Response, status: number, code: string): void {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.json()).toMatchObject({ status, code });
}

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: ENV });
});
afterAll(() => t?.close());

const forgot = (email: string, ip = '10.0.0.1') =>
  t.app.inject({ method: 'POST', url: '/v1/auth/password/forgot', payload: { email }, remoteAddress: ip });

async function resetToken(email: string): Promise<string> {
  await t.app.container.emailFlows.settled();
  const mail = await lastMail(t.app, email, 'password_reset');
  return mail!.token;
}

describe('password reset', () => {
  it('answers 202 with the same body for known and unknown accounts, and mails only the known one', async () => {
    const user = await createUser(t.app);
    const unknown = uniqueEmail('nobody');
    const a = await forgot(user.email);
    const b = await forgot(unknown);
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    expect(a.body).toBe(b.body);
    await t.app.container.emailFlows.settled();
    expect(await lastMail(t.app, user.email, 'password_reset')).toBeDefined();
    expect(await lastMail(t.app, unknown)).toBeUndefined();
  });

  it('resets once, ends every session, and only the newest token works', async () => {
    const user = await createSignedInUser(t.app);
    await forgot(user.email);
    const older = await resetToken(user.email);
    await forgot(user.email);
    const newer = await resetToken(user.email);
    expect(newer).not.toBe(older);
    const reset = (token: string, password = 'fresh-harbour-password-1') =>
      request(t.app, 'POST', '/v1/auth/password/reset', { body: { token, password } });
    expectProblem(await reset(older), 400, 'password_reset.invalid');
    expectProblem(await reset(newer, 'password'), 400, 'password.too_common');
    expectProblem(await reset(newer, 'short'), 400, 'validation_failed');
    expect((await reset(newer)).statusCode).toBe(204);
    expectProblem(await reset(newer), 400, 'password_reset.invalid');
    expect((await request(t.app, 'GET', '/v1/users/me', { token: user.accessToken })).statusCode).toBe(401);
    const refreshed = await request(t.app, 'POST', '/v1/auth/refresh', {
      body: { refreshToken: user.refreshToken },
    });
    expect(refreshed.statusCode).toBe(401);
    const [row] = await t.app.container.db.select().from(users).where(eq(users.id, user.user.id));
    expect(row!.emailVerified).toBe(true);
  });

  it('expires the token after an hour', async () => {
    const user = await createUser(t.app);
    await forgot(user.email);
    const token = await resetToken(user.email);
    await t.app.container.db.execute(
      sql`update user_tokens set expires_at = now() - interval '1 second' where user_id = ${user.user.id}`,
    );
    expectProblem(
      await request(t.app, 'POST', '/v1/auth/password/reset', {
        body: { token, password: 'fresh-harbour-password-2' },
      }),
      400,
      'password_reset.invalid',
    );
  });

  it('limits mails per account silently and requests per client address with 429', async () => {
    const user = await createUser(t.app);
    for (let i = 0; i < 5; i++) expect((await forgot(user.email, '10.0.1.1')).statusCode).toBe(202);
    await t.app.container.emailFlows.settled();
    const sent = await t.app.container.db
      .select()
      .from(mailOutbox)
      .where(eq(mailOutbox.recipient, user.email));
    expect(sent).toHaveLength(3);
  });

  it('limits forgot-password requests per client address with 429, the same for any email', async () => {
    // The per-address limits are off in the shared app; this one has them on.
    const limited = await createTestApp({ env: { AUTH_RATE_LIMIT_PER_MINUTE: '100' }, database: t.database });
    try {
      const ask = (email: string, ip: string) =>
        limited.app.inject({
          method: 'POST',
          url: '/v1/auth/password/forgot',
          payload: { email },
          remoteAddress: ip,
        });
      const user = await createUser(limited.app);
      for (let i = 0; i < ADDRESS_BUDGETS.forgot.limit; i++)
        expect((await ask(uniqueEmail(), '10.0.2.2')).statusCode).toBe(202);
      const refused = await ask(uniqueEmail(), '10.0.2.2');
      expectProblem(refused, 429, 'rate_limited');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      // The same for an existing account: throttling reveals nothing.
      expectProblem(await ask(user.email, '10.0.2.2'), 429, 'rate_limited');
      expect((await ask(user.email, '10.0.2.3')).statusCode).toBe(202);
      await limited.app.container.emailFlows.settled();
    } finally {
      await limited.close();
    }
  });

  it('refuses malformed bodies', async () => {
    expectProblem(await forgot('not-an-email'), 400, 'validation_failed');
    const twice = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/password/forgot',
      payload: { email: ['victim@example.test', 'attacker@example.test'] },
    });
    expectProblem(twice, 400, 'validation_failed');
  });
});

describe('email verification', () => {
  it('mails a link on sign-up that verifies once', async () => {
    const email = uniqueEmail('verify');
    const registered = await request(t.app, 'POST', '/v1/auth/register', {
      body: { email, password: GOOD_PASSWORD },
    });
    expect(registered.json().user.emailVerified).toBe(false);
    const { token, link } = (await lastMail(t.app, email, 'email_verification'))!;
    expect(link.startsWith('http://tessera.test/email/verify?token=')).toBe(true);
    expect((await request(t.app, 'POST', '/v1/auth/email/verify', { body: { token } })).statusCode).toBe(204);
    expectProblem(
      await request(t.app, 'POST', '/v1/auth/email/verify', { body: { token } }),
      400,
      'email_verification.invalid',
    );
    const me = await request(t.app, 'GET', '/v1/users/me', { token: registered.json().accessToken });
    expect(me.json().emailVerified).toBe(true);
  });

  it('resends (older links die), limited per account; nothing to send once verified; needs a bearer', async () => {
    const email = uniqueEmail('resend');
    const registered = (
      await request(t.app, 'POST', '/v1/auth/register', { body: { email, password: GOOD_PASSWORD } })
    ).json();
    const first = (await lastMail(t.app, email, 'email_verification'))!.token;
    const resend = () =>
      request(t.app, 'POST', '/v1/auth/email/verify/resend', { token: registered.accessToken });
    expect((await resend()).statusCode).toBe(202);
    expect((await resend()).statusCode).toBe(202);
    expectProblem(await resend(), 429, 'rate_limited');
    const newest = (await lastMail(t.app, email, 'email_verification'))!.token;
    expectProblem(
      await request(t.app, 'POST', '/v1/auth/email/verify', { body: { token: first } }),
      400,
      'email_verification.invalid',
    );
    expect(
      (await request(t.app, 'POST', '/v1/auth/email/verify', { body: { token: newest } })).statusCode,
    ).toBe(204);
    expect((await resend()).statusCode).toBe(202);
    expectProblem(await request(t.app, 'POST', '/v1/auth/email/verify/resend', {}), 401, 'unauthenticated');
  });
});

describe('secrets at rest', () => {
  it('keeps every emailed token out of the database and the logs in clear text', async () => {
    const tokens: string[] = [];
    const owner = await createSignedInUser(t.app);
    const tenant = await createTenant(t.app, owner);
    const email = uniqueEmail('dump');
    await request(t.app, 'POST', `/v1/tenants/${tenant.id}/invitations`, {
      token: owner.accessToken,
      body: { email, roleIds: [tenant.roles.member] },
    });
    tokens.push((await lastMail(t.app, email, 'invitation'))!.token);
    const registered = await request(t.app, 'POST', '/v1/auth/register', {
      body: { email, password: GOOD_PASSWORD },
    });
    expect(registered.statusCode).toBe(201);
    tokens.push((await lastMail(t.app, email, 'email_verification'))!.token);
    await forgot(email, '10.9.9.9');
    tokens.push(await resetToken(email));
    expect(new Set(tokens).size).toBe(3);
    // Let the sender deliver to the log, so its lines are there to grep.
    await t.app.container.mailSender.runOnce();

    const tables = await queryRows<{ table_name: string }>(
      t.app.container.db,
      sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`,
    );
    expect(tables.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['mail_outbox', 'invitations', 'user_tokens']),
    );
    let dump = '';
    for (const { table_name } of tables) {
      const rows = await queryRows(t.app.container.db, sql.raw(`select * from "${table_name}"`));
      dump += JSON.stringify(rows);
    }
    expect(dump).toContain(email);
    for (const token of tokens) {
      expect(dump).not.toContain(token);
      expect(t.logText()).not.toContain(token);
    }
  });
});
