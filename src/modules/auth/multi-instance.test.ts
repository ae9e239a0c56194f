import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, eventually, request, type TestApp, TestClock } from '../../../test/app.js';
import { createSignedInUser, createSuperuser, createUser, signIn } from '../../../test/factories.js';

/**
 * Two instances of the service on one database, as behind a load balancer. Each keeps session state
 * in memory; what one instance ends, the other must learn through LISTEN/NOTIFY, not by timing out.
 */
const NO_LIMITS = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };

let a: TestApp;
let b: TestApp;
/** One clock for both instances, as if they shared a host's time. */
const clock = new TestClock();
beforeAll(async () => {
  a = await createTestApp({ clock, env: NO_LIMITS });
  b = await createTestApp({ clock, env: NO_LIMITS, database: a.database });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

const me = (t: TestApp, token: string) => request(t.app, 'GET', '/v1/users/me', { token });

describe('session invalidation across instances', () => {
  it('a logout on A makes the token fail on B, which had it cached', async () => {
    const user = await createSignedInUser(a.app);
    expect((await me(b, user.accessToken)).statusCode).toBe(200);

    const logout = await request(a.app, 'POST', '/v1/auth/logout', { token: user.accessToken, body: {} });
    expect(logout.statusCode).toBe(204);

    const onB = await eventually(() => me(b, user.accessToken), 401);
    expect(onB.statusCode).toBe(401);
    expect(onB.json().code).toBe('token_invalid');
    expect((await me(a, user.accessToken)).statusCode).toBe(401);
  });

  it('a session revoked on A fails on B; the caller’s own session lives on both', async () => {
    const user = await createUser(a.app);
    const keeper = await signIn(a.app, user);
    const lost = await signIn(a.app, user);
    expect((await me(b, lost.accessToken)).statusCode).toBe(200);
    expect((await me(b, keeper.accessToken)).statusCode).toBe(200);

    const response = await request(a.app, 'DELETE', `/v1/auth/sessions/${lost.sessionId}`, {
      token: keeper.accessToken,
    });
    expect(response.statusCode).toBe(204);

    expect((await eventually(() => me(b, lost.accessToken), 401)).statusCode).toBe(401);
    expect((await me(b, keeper.accessToken)).statusCode).toBe(200);
  });

  it('a password change on A ends the other sessions on B; the changing session lives on', async () => {
    const user = await createUser(a.app);
    const current = await signIn(a.app, user);
    const other = await signIn(b.app, user);
    expect((await me(b, other.accessToken)).statusCode).toBe(200);
    expect((await me(b, current.accessToken)).statusCode).toBe(200);

    const change = await request(a.app, 'POST', '/v1/users/me/password', {
      token: current.accessToken,
      body: { currentPassword: user.password, newPassword: 'another-long-passphrase-9' },
    });
    expect(change.statusCode).toBe(204);

    const onB = await eventually(() => me(b, other.accessToken), 401);
    expect(onB.statusCode).toBe(401);
    expect(onB.json().code).toBe('token_invalid');
    expect((await me(b, current.accessToken)).statusCode).toBe(200);
    expect((await me(a, current.accessToken)).statusCode).toBe(200);
  });

  it('deactivation by a superuser on A ends the user’s sessions on B', async () => {
    const admin = await createSuperuser(a.app);
    const user = await createSignedInUser(a.app);
    expect((await me(b, user.accessToken)).statusCode).toBe(200);

    const response = await request(a.app, 'PATCH', `/v1/users/${user.user.id}`, {
      token: admin.accessToken,
      body: { isActive: false },
    });
    expect(response.statusCode).toBe(200);
    expect((await eventually(() => me(b, user.accessToken), 401)).statusCode).toBe(401);
  });

  it('refresh reuse detected on A ends the session on B', async () => {
    const user = await createSignedInUser(a.app);
    const next = (
      await request(b.app, 'POST', '/v1/auth/refresh', { body: { refreshToken: user.refreshToken } })
    ).json();
    expect((await me(b, next.accessToken)).statusCode).toBe(200);

    const replay = await request(a.app, 'POST', '/v1/auth/refresh', {
      body: { refreshToken: user.refreshToken },
    });
    expect(replay.statusCode).toBe(401);
    expect((await eventually(() => me(b, next.accessToken), 401)).statusCode).toBe(401);
  });

  it('a refresh token rotated on A is spent on B too', async () => {
    const user = await createSignedInUser(a.app);
    const first = await request(a.app, 'POST', '/v1/auth/refresh', {
      body: { refreshToken: user.refreshToken },
    });
    expect(first.statusCode).toBe(200);
    const again = await request(b.app, 'POST', '/v1/auth/refresh', {
      body: { refreshToken: user.refreshToken },
    });
    expect(again.statusCode).toBe(401);
  });

  it('a refresh on A slides the session expiry that B has cached', async () => {
    const user = await createSignedInUser(a.app);
    expect((await me(b, user.accessToken)).statusCode).toBe(200);

    clock.advance(a.config.refreshTokenTtl - 60);
    const refreshed = await request(a.app, 'POST', '/v1/auth/refresh', {
      body: { refreshToken: user.refreshToken },
    });
    expect(refreshed.statusCode).toBe(200);
    // Past the session's first expiry, well inside the slid one and the new token's lifetime.
    clock.advance(120);
    const onB = await eventually(() => me(b, refreshed.json().accessToken), 200);
    expect(onB.statusCode).toBe(200);
  });
});
