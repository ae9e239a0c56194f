import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, request, type TestApp } from '../../../test/app.js';
import { createSignedInUser, createUser, type SignedIn, signIn } from '../../../test/factories.js';
import { sessions } from '../../db/schema/index.js';
import { uuidv7 } from '../../domain/ids.js';
import { SYSTEM_CONTEXT } from '../audit/audit-context.js';

const NO_LIMITS = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };

interface SessionItem {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  ip: string | null;
  userAgent: string | null;
  current: boolean;
}

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: NO_LIMITS });
});
afterAll(() => t.close());

const me = (token: string) => request(t.app, 'GET', '/v1/users/me', { token });
const refresh = (refreshToken: string) =>
  request(t.app, 'POST', '/v1/auth/refresh', { body: { refreshToken } });

async function sessionRow(id: string) {
  const [row] = await t.app.container.db.select().from(sessions).where(eq(sessions.id, id));
  return row!;
}

/** Signs in, then checks the token works, so this instance has the session cached. */
async function warm(user: SignedIn): Promise<SignedIn> {
  expect((await me(user.accessToken)).statusCode).toBe(200);
  return user;
}

describe('POST /v1/auth/logout', () => {
  it('answers 204, and the access token fails at once while other sessions carry on', async () => {
    const user = await warm(await createSignedInUser(t.app));
    const other = await warm(await signIn(t.app, user));

    const response = await request(t.app, 'POST', '/v1/auth/logout', { token: user.accessToken, body: {} });
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');

    const after = await me(user.accessToken);
    expect(after.statusCode).toBe(401);
    expect(after.json().code).toBe('token_invalid');
    expect(after.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    expect((await refresh(user.refreshToken)).statusCode).toBe(401);
    expect(await sessionRow(user.sessionId)).toMatchObject({
      revokedAt: expect.any(Date),
      revokedReason: 'logout',
    });

    expect((await me(other.accessToken)).statusCode).toBe(200);
    expect((await refresh(other.refreshToken)).statusCode).toBe(200);
    expect((await sessionRow(other.sessionId)).revokedAt).toBeNull();
  });

  it('does not end another user’s sessions', async () => {
    const alice = await warm(await createSignedInUser(t.app));
    const bob = await warm(await createSignedInUser(t.app));
    await request(t.app, 'POST', '/v1/auth/logout', { token: alice.accessToken, body: {} });
    expect((await me(bob.accessToken)).statusCode).toBe(200);
  });

  it('works with no body at all', async () => {
    const user = await warm(await createSignedInUser(t.app));
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      headers: { authorization: `Bearer ${user.accessToken}` },
    });
    expect(response.statusCode).toBe(204);
    expect((await me(user.accessToken)).statusCode).toBe(401);
  });

  it('works with a JSON content type and an empty body', async () => {
    const user = await warm(await createSignedInUser(t.app));
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': 'application/json' },
      payload: '',
    });
    expect(response.statusCode).toBe(204);
    expect((await me(user.accessToken)).statusCode).toBe(401);
  });

  it('works with a {} JSON body', async () => {
    const user = await warm(await createSignedInUser(t.app));
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(response.statusCode).toBe(204);
    expect((await me(user.accessToken)).statusCode).toBe(401);
  });

  it('refuses a body with fields (400) and leaves the session alone', async () => {
    const user = await warm(await createSignedInUser(t.app));
    for (const body of [{ everywhere: true }, [], 'null']) {
      const response = await request(t.app, 'POST', '/v1/auth/logout', {
        token: user.accessToken,
        body,
        headers: { 'content-type': 'application/json' },
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().code).toBe('validation_failed');
    }
    expect((await me(user.accessToken)).statusCode).toBe(200);
  });

  it('answers 401 without a token, and for a session already ended', async () => {
    const anonymous = await request(t.app, 'POST', '/v1/auth/logout', { body: {} });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json().code).toBe('unauthenticated');

    const user = await createSignedInUser(t.app);
    expect(
      (await request(t.app, 'POST', '/v1/auth/logout', { token: user.accessToken, body: {} })).statusCode,
    ).toBe(204);
    const twice = await request(t.app, 'POST', '/v1/auth/logout', { token: user.accessToken, body: {} });
    expect(twice.statusCode).toBe(401);
    expect(twice.json().code).toBe('token_invalid');
  });
});

describe('GET /v1/auth/sessions', () => {
  it('lists the caller’s live sessions, most recently used first, marking the current one', async () => {
    const user = await createUser(t.app);
    const phone = await signIn(t.app, user);
    const laptop = (
      await request(t.app, 'POST', '/v1/auth/login', {
        body: { email: user.email, password: user.password },
        headers: { 'user-agent': 'Laptop/2.0' },
      })
    ).json();
    const laptopSid = JSON.parse(Buffer.from(laptop.accessToken.split('.')[1], 'base64url').toString()).sid;
    const ended = await signIn(t.app, user);
    await request(t.app, 'POST', '/v1/auth/logout', { token: ended.accessToken, body: {} });
    await createSignedInUser(t.app); // someone else's session never shows

    const response = await request(t.app, 'GET', '/v1/auth/sessions', { token: phone.accessToken });
    expect(response.statusCode).toBe(200);
    const data = response.json().data as SessionItem[];
    expect(data.map((s) => s.id)).toEqual([laptopSid, phone.sessionId]);
    expect(data[0]).toEqual({
      id: laptopSid,
      createdAt: expect.any(String),
      lastUsedAt: expect.any(String),
      expiresAt: expect.any(String),
      ip: '127.0.0.1',
      userAgent: 'Laptop/2.0',
      current: false,
    });
    expect(data[1]).toMatchObject({ id: phone.sessionId, current: true, ip: '127.0.0.1' });
    for (const s of data) {
      expect(new Date(s.expiresAt).getTime()).toBeGreaterThan(new Date(s.createdAt).getTime());
      expect(new Date(s.createdAt).toISOString()).toBe(s.createdAt);
    }

    const fromLaptop = await request(t.app, 'GET', '/v1/auth/sessions', { token: laptop.accessToken });
    expect((fromLaptop.json().data as SessionItem[]).find((s) => s.current)!.id).toBe(laptopSid);
  });

  it('a refresh moves the session to the top', async () => {
    const user = await createUser(t.app);
    const first = await signIn(t.app, user);
    const second = await signIn(t.app, user);
    expect((await refresh(first.refreshToken)).statusCode).toBe(200);
    const data = (await request(t.app, 'GET', '/v1/auth/sessions', { token: second.accessToken })).json()
      .data as SessionItem[];
    expect(data.map((s) => s.id)).toEqual([first.sessionId, second.sessionId]);
  });

  it('answers 401 without a token', async () => {
    const response = await request(t.app, 'GET', '/v1/auth/sessions');
    expect(response.statusCode).toBe(401);
  });
});

describe('DELETE /v1/auth/sessions/:id', () => {
  it('ends that session at once and answers 204', async () => {
    const user = await createUser(t.app);
    const keeper = await warm(await signIn(t.app, user));
    const lost = await warm(await signIn(t.app, user));

    const response = await request(t.app, 'DELETE', `/v1/auth/sessions/${lost.sessionId}`, {
      token: keeper.accessToken,
    });
    expect(response.statusCode).toBe(204);

    const after = await me(lost.accessToken);
    expect(after.statusCode).toBe(401);
    expect(after.json().code).toBe('token_invalid');
    expect((await refresh(lost.refreshToken)).statusCode).toBe(401);
    expect(await sessionRow(lost.sessionId)).toMatchObject({
      revokedAt: expect.any(Date),
      revokedReason: 'revoked',
    });
    expect((await me(keeper.accessToken)).statusCode).toBe(200);

    const list = await request(t.app, 'GET', '/v1/auth/sessions', { token: keeper.accessToken });
    expect((list.json().data as SessionItem[]).map((s) => s.id)).toEqual([keeper.sessionId]);
  });

  it('can end the current session', async () => {
    const user = await warm(await createSignedInUser(t.app));
    const response = await request(t.app, 'DELETE', `/v1/auth/sessions/${user.sessionId}`, {
      token: user.accessToken,
    });
    expect(response.statusCode).toBe(204);
    expect((await me(user.accessToken)).statusCode).toBe(401);
  });

  it('works with a JSON content type and an empty body', async () => {
    const user = await createUser(t.app);
    const keeper = await signIn(t.app, user);
    const lost = await signIn(t.app, user);
    const response = await t.app.inject({
      method: 'DELETE',
      url: `/v1/auth/sessions/${lost.sessionId}`,
      headers: { authorization: `Bearer ${keeper.accessToken}`, 'content-type': 'application/json' },
      payload: '',
    });
    expect(response.statusCode).toBe(204);
  });

  it('answers 404 for another user’s session and leaves it alone', async () => {
    const alice = await createSignedInUser(t.app);
    const bob = await warm(await createSignedInUser(t.app));
    const response = await request(t.app, 'DELETE', `/v1/auth/sessions/${bob.sessionId}`, {
      token: alice.accessToken,
    });
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('not_found');
    expect((await sessionRow(bob.sessionId)).revokedAt).toBeNull();
    expect((await me(bob.accessToken)).statusCode).toBe(200);
  });

  it('answers 404 for an unknown id, and for a session already ended', async () => {
    const user = await createUser(t.app);
    const keeper = await signIn(t.app, user);
    const unknown = await request(t.app, 'DELETE', `/v1/auth/sessions/${uuidv7()}`, {
      token: keeper.accessToken,
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('not_found');

    const lost = await signIn(t.app, user);
    const path = `/v1/auth/sessions/${lost.sessionId}`;
    expect((await request(t.app, 'DELETE', path, { token: keeper.accessToken })).statusCode).toBe(204);
    const again = await request(t.app, 'DELETE', path, { token: keeper.accessToken });
    expect(again.statusCode).toBe(404);
  });

  it('answers 400 for an id that is not a uuid', async () => {
    const user = await createSignedInUser(t.app);
    for (const id of ['not-a-uuid', '1', "x'or'1'='1"]) {
      const response = await request(t.app, 'DELETE', `/v1/auth/sessions/${encodeURIComponent(id)}`, {
        token: user.accessToken,
      });
      expect(response.statusCode, id).toBe(400);
      expect(response.json().code).toBe('validation_failed');
    }
  });

  it('answers 401 without a token', async () => {
    const user = await createSignedInUser(t.app);
    const response = await request(t.app, 'DELETE', `/v1/auth/sessions/${user.sessionId}`);
    expect(response.statusCode).toBe(401);
    expect((await sessionRow(user.sessionId)).revokedAt).toBeNull();
  });
});

describe('sessions end with the account', () => {
  it('a password change ends every other session at once; the current one stays', async () => {
    const user = await createUser(t.app);
    const current = await warm(await signIn(t.app, user));
    const other = await warm(await signIn(t.app, user));
    const response = await request(t.app, 'POST', '/v1/users/me/password', {
      token: current.accessToken,
      body: { currentPassword: user.password, newPassword: 'a-brand-new-passphrase-7' },
    });
    expect(response.statusCode).toBe(204);
    expect((await me(other.accessToken)).statusCode).toBe(401);
    expect((await refresh(other.refreshToken)).statusCode).toBe(401);
    expect((await me(current.accessToken)).statusCode).toBe(200);
  });

  it('deactivation ends every session at once', async () => {
    const user = await warm(await createSignedInUser(t.app));
    await t.app.container.users.adminUpdate(SYSTEM_CONTEXT, user.user.id, { isActive: false });
    expect((await me(user.accessToken)).statusCode).toBe(401);
  });
});
