import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Response, request, type TestApp, TestClock } from '../../../test/app.js';
import {
  createSignedInUser,
  createSuperuser,
  createUser,
  signIn,
  uniqueEmail,
} from '../../../test/factories.js';
import { refreshTokens, sessions, users } from '../../db/schema/index.js';

/** Rate limits off: these tests sign in far more often than a person would. */
const ENV = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };

const USER_FIELDS = [
  'createdAt',
  'email',
  'emailVerified',
  'id',
  'isActive',
  'isSuperuser',
  'mfaEnabled',
  'name',
  'updatedAt',
];

function expectProblem(response: Response, status: number, code: string): void {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.json()).toMatchObject({ status, code });
}

describe('/v1/users/me', () => {
  let t: TestApp;
  const clock = new TestClock();
  beforeAll(async () => {
    t = await createTestApp({ env: ENV, clock });
  });
  afterAll(() => t.close());

  const login = (email: string, password: string) =>
    request(t.app, 'POST', '/v1/auth/login', { body: { email, password } });
  const refresh = (refreshToken: string) =>
    request(t.app, 'POST', '/v1/auth/refresh', { body: { refreshToken } });
  const me = (token: string) => request(t.app, 'GET', '/v1/users/me', { token });
  const row = async (id: string) => {
    const [found] = await t.app.container.db.select().from(users).where(eq(users.id, id));
    return found;
  };

  describe('GET /me', () => {
    it('answers the User shape and nothing else', async () => {
      const u = await createSignedInUser(t.app, { name: 'Ada Lovelace' });
      const response = await me(u.accessToken);
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(Object.keys(body).sort()).toEqual(USER_FIELDS);
      expect(body).toEqual({
        id: u.user.id,
        email: u.email,
        name: 'Ada Lovelace',
        emailVerified: false,
        isActive: true,
        isSuperuser: false,
        mfaEnabled: false,
        createdAt: u.user.createdAt.toISOString(),
        updatedAt: u.user.updatedAt.toISOString(),
      });
      expect(response.body).not.toMatch(/passwordHash|password_hash|argon2/i);
    });

    it('answers 401 unauthenticated with WWW-Authenticate: Bearer without a token', async () => {
      const response = await request(t.app, 'GET', '/v1/users/me');
      expectProblem(response, 401, 'unauthenticated');
      expect(response.headers['www-authenticate']).toBe('Bearer');
    });

    it('answers 401 token_invalid for a garbage or non-bearer token', async () => {
      const garbage = await me('not-a-jwt');
      expectProblem(garbage, 401, 'token_invalid');
      expect(garbage.headers['www-authenticate']).toMatch(/^Bearer/);
      const basic = await request(t.app, 'GET', '/v1/users/me', {
        headers: { authorization: 'Basic Zm9vOmJhcg==' },
      });
      expectProblem(basic, 401, 'token_invalid');
    });

    it('stores and returns the email lower-cased', async () => {
      const email = `  ${uniqueEmail('MixedCase').toUpperCase()} `;
      // Signing in with the address as typed works too: it is trimmed and compared case-insensitively.
      const u = await createSignedInUser(t.app, { email });
      const response = await me(u.accessToken);
      expect(response.json().email).toBe(email.trim().toLowerCase());
      expect((await row(u.user.id))?.email).toBe(email.trim().toLowerCase());
    });
  });

  describe('PATCH /me', () => {
    it('changes the name and moves updatedAt on the service clock', async () => {
      const u = await createSignedInUser(t.app, { name: 'Before' });
      clock.advance(30);
      const response = await request(t.app, 'PATCH', '/v1/users/me', {
        token: u.accessToken,
        body: { name: 'After' },
      });
      expect(response.statusCode, response.body).toBe(200);
      const body = response.json();
      expect(Object.keys(body).sort()).toEqual(USER_FIELDS);
      expect(body.name).toBe('After');
      expect(body.updatedAt).toBe(clock.now().toISOString());
      expect(body.createdAt).toBe(u.user.createdAt.toISOString());
      const stored = await row(u.user.id);
      expect(stored?.name).toBe('After');
      expect(stored?.updatedAt.toISOString()).toBe(clock.now().toISOString());
      expect((await me(u.accessToken)).json().name).toBe('After');
    });

    it('accepts name: null', async () => {
      const u = await createSignedInUser(t.app, { name: 'Someone' });
      const response = await request(t.app, 'PATCH', '/v1/users/me', {
        token: u.accessToken,
        body: { name: null },
      });
      expect(response.statusCode).toBe(200);
      expect(response.json().name).toBeNull();
      expect((await row(u.user.id))?.name).toBeNull();
    });

    it.each([
      ['isSuperuser', { isSuperuser: true }],
      ['isSuperuser beside name', { name: 'Mallory', isSuperuser: true }],
      ['email', { email: 'taken-over@example.test' }],
      ['email beside name', { name: 'Mallory', email: 'taken-over@example.test' }],
      ['isActive', { name: 'Mallory', isActive: true }],
      ['emailVerified', { name: 'Mallory', emailVerified: true }],
      ['mfaEnabled', { name: 'Mallory', mfaEnabled: false }],
      ['passwordHash', { name: 'Mallory', passwordHash: 'x' }],
      ['id', { name: 'Mallory', id: '00000000-0000-7000-8000-000000000000' }],
    ])('refuses mass assignment of %s (400, nothing changes)', async (_label, body) => {
      const u = await createSignedInUser(t.app, { name: 'Original' });
      const before = await row(u.user.id);
      const response = await request(t.app, 'PATCH', '/v1/users/me', { token: u.accessToken, body });
      expectProblem(response, 400, 'validation_failed');
      // With `name` present the only fault left is the extra field, and the error names it.
      if ('name' in body) {
        const extra = Object.keys(body).find((k) => k !== 'name');
        expect(response.json().errors).toEqual([{ path: `/${extra}`, message: 'is not an allowed field' }]);
      }
      expect(await row(u.user.id)).toEqual(before);
      expect((await me(u.accessToken)).json().isSuperuser).toBe(false);
    });

    it.each([
      ['a number', { name: 42 }],
      ['a boolean', { name: true }],
      ['an object', { name: { first: 'A' } }],
      ['an array', { name: ['A'] }],
      ['an empty string', { name: '' }],
      ['10,000 characters', { name: 'n'.repeat(10_000) }],
      ['201 characters', { name: 'n'.repeat(201) }],
      ['missing', {}],
    ])('answers 400 when name is %s', async (_label, body) => {
      const u = await createSignedInUser(t.app, { name: 'Original' });
      const response = await request(t.app, 'PATCH', '/v1/users/me', { token: u.accessToken, body });
      expectProblem(response, 400, 'validation_failed');
      expect((await row(u.user.id))?.name).toBe('Original');
    });

    it('accepts a name of exactly 200 characters and any Unicode', async () => {
      const u = await createSignedInUser(t.app);
      const long = 'é'.repeat(200);
      const a = await request(t.app, 'PATCH', '/v1/users/me', { token: u.accessToken, body: { name: long } });
      expect(a.statusCode).toBe(200);
      expect((await row(u.user.id))?.name).toBe(long);
      const b = await request(t.app, 'PATCH', '/v1/users/me', {
        token: u.accessToken,
        body: { name: '山田 太郎 🦊' },
      });
      expect(b.json().name).toBe('山田 太郎 🦊');
    });

    it('answers 401 without a token', async () => {
      const response = await request(t.app, 'PATCH', '/v1/users/me', { body: { name: 'x' } });
      expectProblem(response, 401, 'unauthenticated');
    });
  });

  describe('bad bodies never answer 500', () => {
    const raw = (
      token: string,
      method: 'PATCH' | 'POST',
      url: string,
      payload: string,
      type = 'application/json',
    ) =>
      t.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${token}`, 'content-type': type },
        payload,
      });

    it.each([
      ['malformed JSON', '{"name": "x"', 400],
      ['a trailing comma', '{"name": "x",}', 400],
      ['null', 'null', 400],
      ['an array', '[{"name": "x"}]', 400],
      ['a string', '"x"', 400],
      ['a number', '42', 400],
      ['__proto__ poisoning', '{"name": "x", "__proto__": {"isSuperuser": true}}', 400],
      [
        'constructor.prototype poisoning',
        '{"name":"x","constructor":{"prototype":{"isSuperuser":true}}}',
        400,
      ],
    ])('PATCH /me with %s → %i', async (_label, payload, status) => {
      const u = await createSignedInUser(t.app, { name: 'Original' });
      const response = await raw(u.accessToken, 'PATCH', '/v1/users/me', payload);
      expectProblem(response, status, 'validation_failed');
      const stored = await row(u.user.id);
      expect(stored?.name).toBe('Original');
      expect(stored?.isSuperuser).toBe(false);
    });

    it.each([
      ['malformed JSON', '{"currentPassword":'],
      ['null', 'null'],
      ['an array', '[]'],
    ])('POST /me/password with %s → 400', async (_label, payload) => {
      const u = await createSignedInUser(t.app);
      const response = await raw(u.accessToken, 'POST', '/v1/users/me/password', payload);
      expectProblem(response, 400, 'validation_failed');
      expect((await login(u.email, u.password)).statusCode).toBe(200);
    });

    it('answers 400 for PATCH /me with no body at all', async () => {
      const u = await createSignedInUser(t.app);
      const response = await t.app.inject({
        method: 'PATCH',
        url: '/v1/users/me',
        headers: { authorization: `Bearer ${u.accessToken}` },
      });
      expectProblem(response, 400, 'validation_failed');
    });

    it('answers 415 for a body of an unknown content type', async () => {
      const u = await createSignedInUser(t.app, { name: 'Original' });
      const xml = await raw(u.accessToken, 'PATCH', '/v1/users/me', '<name>x</name>', 'application/xml');
      expectProblem(xml, 415, 'unsupported_media_type');
      // text/plain is 415 or, where the platform lets Fastify parse it as a string, 400: a client error
      // in problem+json either way, and nothing changes.
      const text = await raw(u.accessToken, 'PATCH', '/v1/users/me', 'name=x', 'text/plain');
      expect([400, 415]).toContain(text.statusCode);
      expect(text.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect((await row(u.user.id))?.name).toBe('Original');
    });

    it('answers 413 for a body over the limit', async () => {
      const u = await createSignedInUser(t.app);
      const response = await raw(
        u.accessToken,
        'PATCH',
        '/v1/users/me',
        JSON.stringify({ name: 'x'.repeat(2_000_000) }),
      );
      expectProblem(response, 413, 'payload_too_large');
    });
  });

  describe('POST /me/password', () => {
    const NEW_PASSWORD = 'granite-puffin-lantern-77';

    it('changes the password, ends every other session at once and keeps this one', async () => {
      const u = await createUser(t.app);
      const current = await signIn(t.app, u);
      const other = await signIn(t.app, u);
      const third = await signIn(t.app, u);
      // Warm the session cache, so the test proves it is invalidated rather than never filled.
      expect((await me(other.accessToken)).statusCode).toBe(200);
      expect((await me(third.accessToken)).statusCode).toBe(200);

      const response = await request(t.app, 'POST', '/v1/users/me/password', {
        token: current.accessToken,
        body: { currentPassword: u.password, newPassword: NEW_PASSWORD },
      });
      expect(response.statusCode, response.body).toBe(204);
      expect(response.body).toBe('');

      // Other sessions: access and refresh tokens fail immediately.
      expectProblem(await me(other.accessToken), 401, 'token_invalid');
      expectProblem(await me(third.accessToken), 401, 'token_invalid');
      expectProblem(await refresh(other.refreshToken), 401, 'token_invalid');
      expectProblem(await refresh(third.refreshToken), 401, 'token_invalid');

      // This session keeps working, access and refresh.
      expect((await me(current.accessToken)).statusCode).toBe(200);
      const rotated = await refresh(current.refreshToken);
      expect(rotated.statusCode, rotated.body).toBe(200);
      expect((await me(rotated.json().accessToken)).statusCode).toBe(200);

      // The old password stops working, the new one works.
      expectProblem(await login(u.email, u.password), 401, 'invalid_credentials');
      expect((await login(u.email, NEW_PASSWORD)).statusCode).toBe(200);

      const rows = await t.app.container.db.select().from(sessions).where(eq(sessions.userId, u.user.id));
      const byId = new Map(rows.map((s) => [s.id, s]));
      expect(byId.get(current.sessionId)?.revokedAt).toBeNull();
      for (const ended of [other.sessionId, third.sessionId]) {
        expect(byId.get(ended)?.revokedAt).toBeInstanceOf(Date);
        expect(byId.get(ended)?.revokedReason).toBe('password_changed');
      }
      const stored = await row(u.user.id);
      expect(stored?.passwordHash).toMatch(/^\$argon2id\$/);
      expect(stored?.passwordHash).not.toContain(NEW_PASSWORD);
    });

    it('answers 401 invalid_credentials for a wrong current password and changes nothing', async () => {
      const u = await createUser(t.app);
      const current = await signIn(t.app, u);
      const other = await signIn(t.app, u);
      const before = await row(u.user.id);
      const response = await request(t.app, 'POST', '/v1/users/me/password', {
        token: current.accessToken,
        body: { currentPassword: 'not-the-password-1', newPassword: NEW_PASSWORD },
      });
      expectProblem(response, 401, 'invalid_credentials');
      expect((await row(u.user.id))?.passwordHash).toBe(before?.passwordHash);
      expect((await me(other.accessToken)).statusCode).toBe(200);
      expect((await me(current.accessToken)).statusCode).toBe(200);
      expect((await login(u.email, u.password)).statusCode).toBe(200);
      expectProblem(await login(u.email, NEW_PASSWORD), 401, 'invalid_credentials');
    });

    it.each(['football', 'FOOTBALL', 'password1', 'qwertyuiop'])(
      'refuses a too common new password (%s) with 400 password.too_common',
      async (common) => {
        const u = await createUser(t.app);
        const current = await signIn(t.app, u);
        const other = await signIn(t.app, u);
        const response = await request(t.app, 'POST', '/v1/users/me/password', {
          token: current.accessToken,
          body: { currentPassword: u.password, newPassword: common },
        });
        expectProblem(response, 400, 'password.too_common');
        expect(response.json().errors).toEqual([{ path: '/newPassword', message: expect.any(String) }]);
        expect((await login(u.email, u.password)).statusCode).toBe(200);
        expect((await me(other.accessToken)).statusCode).toBe(200);
      },
    );

    it.each([
      ['too short', { newPassword: 'short1' }],
      ['too long', { newPassword: 'p'.repeat(129) }],
      ['missing', {}],
      ['a number', { newPassword: 12345678 }],
    ])('answers 400 when the new password is %s', async (_label, extra) => {
      const u = await createUser(t.app);
      const current = await signIn(t.app, u);
      const response = await request(t.app, 'POST', '/v1/users/me/password', {
        token: current.accessToken,
        body: { currentPassword: u.password, ...extra },
      });
      expectProblem(response, 400, 'validation_failed');
      expect((await login(u.email, u.password)).statusCode).toBe(200);
    });

    it('counts characters, not bytes or UTF-16 units: 8 emoji is long enough', async () => {
      const u = await createUser(t.app);
      const current = await signIn(t.app, u);
      const emoji = '🦊🐙🦉🐢🦔🐝🦋🐳';
      const response = await request(t.app, 'POST', '/v1/users/me/password', {
        token: current.accessToken,
        body: { currentPassword: u.password, newPassword: emoji },
      });
      expect(response.statusCode, response.body).toBe(204);
      expect((await login(u.email, emoji)).statusCode).toBe(200);
    });

    it('refuses unknown fields and a 10,000-character current password', async () => {
      const u = await createUser(t.app);
      const current = await signIn(t.app, u);
      const extra = await request(t.app, 'POST', '/v1/users/me/password', {
        token: current.accessToken,
        body: { currentPassword: u.password, newPassword: NEW_PASSWORD, userId: u.user.id },
      });
      expectProblem(extra, 400, 'validation_failed');
      const huge = await request(t.app, 'POST', '/v1/users/me/password', {
        token: current.accessToken,
        body: { currentPassword: 'x'.repeat(10_000), newPassword: NEW_PASSWORD },
      });
      expectProblem(huge, 400, 'validation_failed');
      expect((await login(u.email, u.password)).statusCode).toBe(200);
    });

    it('answers 401 without a token', async () => {
      const response = await request(t.app, 'POST', '/v1/users/me/password', {
        body: { currentPassword: 'whatever-1', newPassword: NEW_PASSWORD },
      });
      expectProblem(response, 401, 'unauthenticated');
    });
  });

  describe('DELETE /me', () => {
    it('deletes the account; its tokens fail and its sessions go with it', async () => {
      const u = await createUser(t.app);
      const current = await signIn(t.app, u);
      const other = await signIn(t.app, u);
      expect((await me(other.accessToken)).statusCode).toBe(200);

      const response = await request(t.app, 'DELETE', '/v1/users/me', { token: current.accessToken });
      expect(response.statusCode, response.body).toBe(204);
      expect(response.body).toBe('');

      expect(await row(u.user.id)).toBeUndefined();
      const db = t.app.container.db;
      expect(await db.select().from(sessions).where(eq(sessions.userId, u.user.id))).toEqual([]);
      expect(
        await db.select().from(refreshTokens).where(eq(refreshTokens.sessionId, other.sessionId)),
      ).toEqual([]);
      expectProblem(await me(current.accessToken), 401, 'token_invalid');
      expectProblem(await me(other.accessToken), 401, 'token_invalid');
      expectProblem(await refresh(other.refreshToken), 401, 'token_invalid');
      expectProblem(await login(u.email, u.password), 401, 'invalid_credentials');
      // A second delete with the dead token cannot reach the handler.
      expectProblem(
        await request(t.app, 'DELETE', '/v1/users/me', { token: current.accessToken }),
        401,
        'token_invalid',
      );
    });

    it('frees the email for a new account', async () => {
      const u = await createSignedInUser(t.app);
      expect((await request(t.app, 'DELETE', '/v1/users/me', { token: u.accessToken })).statusCode).toBe(204);
      const again = await request(t.app, 'POST', '/v1/auth/register', {
        body: { email: u.email, password: 'brand-new-password-9' },
      });
      expect(again.statusCode, again.body).toBe(201);
      expect(again.json().user.id).not.toBe(u.user.id);
    });

    it('lets a superuser delete themselves while another active superuser remains', async () => {
      // This file's database has other superusers only from this describe; make sure of two.
      await createSuperuser(t.app);
      const admin = await createSuperuser(t.app);
      const response = await request(t.app, 'DELETE', '/v1/users/me', { token: admin.accessToken });
      expect(response.statusCode, response.body).toBe(204);
      expect(await row(admin.user.id)).toBeUndefined();
    });

    it('answers 401 without a token', async () => {
      expectProblem(await request(t.app, 'DELETE', '/v1/users/me'), 401, 'unauthenticated');
    });
  });
});

describe('DELETE /v1/users/me by the last active superuser', () => {
  it('answers 409 last_superuser and keeps the account and its session', async () => {
    const own = await createTestApp({ env: ENV });
    try {
      const admin = await createSuperuser(own.app);
      // An inactive superuser does not count: it cannot administer anything.
      await createUser(own.app, { isSuperuser: true, isActive: false });
      const response = await request(own.app, 'DELETE', '/v1/users/me', { token: admin.accessToken });
      expectProblem(response, 409, 'last_superuser');
      const [stored] = await own.app.container.db.select().from(users).where(eq(users.id, admin.user.id));
      expect(stored?.isSuperuser).toBe(true);
      expect(stored?.isActive).toBe(true);
      expect((await request(own.app, 'GET', '/v1/users/me', { token: admin.accessToken })).statusCode).toBe(
        200,
      );

      // With a second active superuser the same request succeeds.
      await createUser(own.app, { isSuperuser: true });
      expect(
        (await request(own.app, 'DELETE', '/v1/users/me', { token: admin.accessToken })).statusCode,
      ).toBe(204);
    } finally {
      await own.close();
    }
  });
});
