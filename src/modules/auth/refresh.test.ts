import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, request, type TestApp, TestClock } from '../../../test/app.js';
import { createSignedInUser, createUser, type SignedIn, signIn } from '../../../test/factories.js';
import { refreshTokens, sessions } from '../../db/schema/index.js';
import { sha256 } from '../../domain/secrets.js';
import { SYSTEM_CONTEXT } from '../audit/audit-context.js';

const NO_LIMITS = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };
const ACCESS_TTL = 900;
const REFRESH_TTL = 30 * 24 * 3600;
const A_TENANT = '01890000-0000-7000-8000-000000000000';

interface Pair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  tokenType: string;
  user: { id: string; email: string };
}

function sidOf(jwt: string): string {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()).sid;
}

let t: TestApp;
const clock = new TestClock();
beforeAll(async () => {
  t = await createTestApp({ clock, env: NO_LIMITS });
});
afterAll(() => t.close());

const refresh = (body: unknown) => request(t.app, 'POST', '/v1/auth/refresh', { body });
const me = (token: string) => request(t.app, 'GET', '/v1/users/me', { token });

async function sessionRow(id: string) {
  const [row] = await t.app.container.db.select().from(sessions).where(eq(sessions.id, id));
  return row!;
}

async function tokenRow(refreshToken: string) {
  const [row] = await t.app.container.db
    .select()
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, sha256(refreshToken)));
  return row;
}

describe('POST /v1/auth/refresh', () => {
  it('trades a refresh token for a new pair in the same session', async () => {
    const user = await createSignedInUser(t.app);
    const response = await refresh({ refreshToken: user.refreshToken });
    expect(response.statusCode).toBe(200);
    const pair = response.json() as Pair;
    expect(pair).toMatchObject({
      tokenType: 'Bearer',
      expiresIn: ACCESS_TTL,
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      user: { id: user.user.id, email: user.email },
    });
    expect(pair.refreshToken).not.toBe(user.refreshToken);
    expect(pair.accessToken).not.toBe(user.accessToken);
    expect(sidOf(pair.accessToken)).toBe(user.sessionId);
    expect((await me(pair.accessToken)).statusCode).toBe(200);
    // The refresh did not end the session, so the earlier access token keeps working until it expires.
    expect((await me(user.accessToken)).statusCode).toBe(200);
  });

  it('stores refresh tokens only as hashes and marks the traded one used', async () => {
    const user = await createSignedInUser(t.app);
    const pair = (await refresh({ refreshToken: user.refreshToken })).json() as Pair;

    const used = await tokenRow(user.refreshToken);
    expect(used).toMatchObject({ sessionId: user.sessionId, usedAt: expect.any(Date) });
    const fresh = await tokenRow(pair.refreshToken);
    expect(fresh).toMatchObject({ sessionId: user.sessionId, usedAt: null });

    const all = await t.app.container.db
      .select()
      .from(refreshTokens)
      .where(eq(refreshTokens.sessionId, user.sessionId));
    expect(all).toHaveLength(2);
    for (const row of all) {
      expect(row.tokenHash).not.toBe(user.refreshToken);
      expect(row.tokenHash).not.toBe(pair.refreshToken);
    }
  });

  it('chains: every refresh token works exactly once', async () => {
    const user = await createSignedInUser(t.app);
    let current = user.refreshToken;
    const seen = new Set([current]);
    for (let i = 0; i < 5; i++) {
      const response = await refresh({ refreshToken: current });
      expect(response.statusCode).toBe(200);
      current = (response.json() as Pair).refreshToken;
      expect(seen.has(current)).toBe(false);
      seen.add(current);
    }
  });

  it('a used refresh token answers 401 token_invalid and revokes the whole session (reuse detection)', async () => {
    const user = await createSignedInUser(t.app);
    const next = (await refresh({ refreshToken: user.refreshToken })).json() as Pair;
    expect((await me(next.accessToken)).statusCode).toBe(200);

    const replay = await refresh({ refreshToken: user.refreshToken });
    expect(replay.statusCode).toBe(401);
    expect(replay.json()).toMatchObject({ status: 401, code: 'token_invalid' });
    expect(replay.headers['www-authenticate']).toBe('Bearer error="invalid_token"');

    // The thief's copy and the rightful holder's copy both die with the session.
    const newer = await refresh({ refreshToken: next.refreshToken });
    expect(newer.statusCode).toBe(401);
    expect(newer.json().code).toBe('token_invalid');
    for (const token of [next.accessToken, user.accessToken]) {
      const response = await me(token);
      expect(response.statusCode).toBe(401);
      expect(response.json().code).toBe('token_invalid');
    }
    expect(await sessionRow(user.sessionId)).toMatchObject({
      revokedAt: expect.any(Date),
      revokedReason: 'refresh_reuse',
    });
  });

  it('reuse ends only that session, not the user’s other sessions', async () => {
    const user = await createSignedInUser(t.app);
    const other = await signIn(t.app, user);
    await refresh({ refreshToken: user.refreshToken });
    expect((await refresh({ refreshToken: user.refreshToken })).statusCode).toBe(401);

    expect((await me(other.accessToken)).statusCode).toBe(200);
    expect((await refresh({ refreshToken: other.refreshToken })).statusCode).toBe(200);
  });

  it('an unknown refresh token answers 401 token_invalid and touches no session', async () => {
    const user = await createSignedInUser(t.app);
    const response = await refresh({ refreshToken: `${user.refreshToken.slice(0, -2)}xx` });
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('token_invalid');
    expect((await sessionRow(user.sessionId)).revokedAt).toBeNull();
    expect((await refresh({ refreshToken: user.refreshToken })).statusCode).toBe(200);
  });

  it('the refresh token of a logged-out session answers 401', async () => {
    const user = await createSignedInUser(t.app);
    const logout = await request(t.app, 'POST', '/v1/auth/logout', { token: user.accessToken, body: {} });
    expect(logout.statusCode).toBe(204);
    const response = await refresh({ refreshToken: user.refreshToken });
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('token_invalid');
  });

  it('the refresh token of a deactivated user answers 401', async () => {
    const user = await createSignedInUser(t.app);
    await t.app.container.users.adminUpdate(SYSTEM_CONTEXT, user.user.id, { isActive: false });
    const response = await refresh({ refreshToken: user.refreshToken });
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('token_invalid');
  });

  it.each<[string, unknown]>([
    ['no refreshToken', {}],
    ['an empty refreshToken', { refreshToken: '' }],
    ['a numeric refreshToken', { refreshToken: 42 }],
    ['an unknown field', { refreshToken: 'abc', remember: true }],
    ['a tenantId that is not a uuid', { refreshToken: 'abc', tenantId: 'acme' }],
  ])('answers 400 for %s', async (_label, body) => {
    const response = await refresh(body);
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('validation_failed');
  });

  it('with the tenantId of a tenant the user is not in answers 403 and leaves the refresh token usable', async () => {
    const user = await createSignedInUser(t.app);
    const response = await refresh({ refreshToken: user.refreshToken, tenantId: A_TENANT });
    expect(response.statusCode).toBe(403);
    expect(response.json().code).toBe('forbidden');

    // A refused scope must not spend the token: spending it would make the client's retry look like
    // reuse and end its session.
    expect((await tokenRow(user.refreshToken))!.usedAt).toBeNull();
    const retry = await refresh({ refreshToken: user.refreshToken });
    expect(retry.statusCode).toBe(200);
    expect((await sessionRow(user.sessionId)).revokedAt).toBeNull();
  });

  it('a used refresh token with a tenantId still counts as reuse', async () => {
    const user = await createSignedInUser(t.app);
    expect((await refresh({ refreshToken: user.refreshToken })).statusCode).toBe(200);
    const replay = await refresh({ refreshToken: user.refreshToken, tenantId: A_TENANT });
    expect(replay.statusCode).toBe(401);
    expect((await sessionRow(user.sessionId)).revokedReason).toBe('refresh_reuse');
  });
});

describe('concurrent refreshes of one token', () => {
  it('50 at once: exactly one 200, the rest 401, and the session ends', async () => {
    const user = await createSignedInUser(t.app);
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => refresh({ refreshToken: user.refreshToken })),
    );
    const statuses = responses.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 401)).toHaveLength(49);
    for (const response of responses.filter((r) => r.statusCode === 401))
      expect(response.json().code).toBe('token_invalid');

    // The 49 losers presented a used token: reuse, so the session is over for the winner too.
    const winner = responses.find((r) => r.statusCode === 200)!.json() as Pair;
    expect(await sessionRow(user.sessionId)).toMatchObject({
      revokedAt: expect.any(Date),
      revokedReason: 'refresh_reuse',
    });
    expect((await refresh({ refreshToken: winner.refreshToken })).statusCode).toBe(401);
    expect((await me(winner.accessToken)).statusCode).toBe(401);

    const rows = await t.app.container.db
      .select()
      .from(refreshTokens)
      .where(eq(refreshTokens.sessionId, user.sessionId));
    expect(rows).toHaveLength(2);
  });
});

describe('expiry (TestClock)', () => {
  it('an access token expires after ACCESS_TOKEN_TTL with token_expired; a refresh gets a working one', async () => {
    const user = await createSignedInUser(t.app);
    clock.advance(ACCESS_TTL + 10);
    const expired = await me(user.accessToken);
    expect(expired.statusCode).toBe(401);
    expect(expired.json().code).toBe('token_expired');
    expect(expired.headers['www-authenticate']).toBe('Bearer error="invalid_token"');

    const pair = (await refresh({ refreshToken: user.refreshToken })).json() as Pair;
    expect((await me(pair.accessToken)).statusCode).toBe(200);
  });

  it('a session past REFRESH_TOKEN_TTL cannot be refreshed', async () => {
    const user = await createSignedInUser(t.app);
    clock.advance(REFRESH_TTL + 1);
    const response = await refresh({ refreshToken: user.refreshToken });
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('token_invalid');
  });

  it('an expired session no longer appears in GET /sessions', async () => {
    const user = await createUser(t.app);
    const old = await signIn(t.app, user);
    clock.advance(REFRESH_TTL - 100);
    const recent = await signIn(t.app, user);
    clock.advance(200);
    const list = await request(t.app, 'GET', '/v1/auth/sessions', { token: recent.accessToken });
    const ids = (list.json().data as Array<{ id: string }>).map((s) => s.id);
    expect(ids).toEqual([recent.sessionId]);
    expect(ids).not.toContain(old.sessionId);
  });

  it('each refresh slides the session expiry, and the cached session state follows it', async () => {
    const user: SignedIn = await createSignedInUser(t.app);
    const createdExpiry = (await sessionRow(user.sessionId)).expiresAt.getTime();
    // Loads the session into this instance's cache, with its first expiry.
    expect((await me(user.accessToken)).statusCode).toBe(200);

    clock.advance(REFRESH_TTL - 60);
    const response = await refresh({ refreshToken: user.refreshToken });
    expect(response.statusCode).toBe(200);
    const pair = response.json() as Pair;
    const slid = (await sessionRow(user.sessionId)).expiresAt.getTime();
    expect(slid).toBe(clock.now().getTime() + REFRESH_TTL * 1000);
    expect(slid).toBeGreaterThan(createdExpiry);

    // Past the first expiry, inside the slid one: the session lives, so its fresh token works.
    clock.advance(120);
    const after = await me(pair.accessToken);
    expect(after.statusCode).toBe(200);
    expect((await refresh({ refreshToken: pair.refreshToken })).statusCode).toBe(200);
  });
});
