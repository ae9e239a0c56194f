import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTestApp, type Response, type TestApp, TestClock } from '../../../test/app.js';
import { createSignedInUser, createUser, GOOD_PASSWORD, uniqueEmail } from '../../../test/factories.js';
import { ADDRESS_BUDGETS, type LockoutEvent, SIGN_IN } from '../../platform/limits/limits.js';

/**
 * The abuse limits of API.md, through the HTTP API on one instance (in-memory counters). Each test
 * turns on the limits it is about; the shared test default has them off.
 */
const apps: TestApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((t) => t.close()));
});

async function appWith(env: Record<string, string>, clock = new TestClock()): Promise<TestApp> {
  const t = await createTestApp({ env, clock });
  apps.push(t);
  return t;
}

const WRONG = 'not-the-password-at-all-1';

function login(t: TestApp, email: string, password: string, ip = '10.0.0.1', url = '/v1/auth/login') {
  return t.app.inject({ method: 'POST', url, payload: { email, password }, remoteAddress: ip });
}

function expectThrottled(response: Response): void {
  expect(response.statusCode, response.body).toBe(429);
  expect(response.json()).toMatchObject({ status: 429, code: 'rate_limited' });
  expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
}

describe('per-address limit on /v1/auth/*', () => {
  it('stops a request flood from one address with 429 and Retry-After, per route, until the minute ends', async () => {
    const clock = new TestClock();
    const t = await appWith({ AUTH_RATE_LIMIT_PER_MINUTE: '3' }, clock);
    const email = uniqueEmail();
    for (let i = 0; i < 3; i++) expect((await login(t, email, WRONG)).statusCode).toBe(401);
    const refused = await login(t, email, WRONG);
    expectThrottled(refused);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    // Another address, and another route from this address, keep their own budgets.
    expect((await login(t, email, WRONG, '10.0.0.2')).statusCode).toBe(401);
    const refresh = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken: 'x'.repeat(40) },
      remoteAddress: '10.0.0.1',
    });
    expect(refresh.statusCode).toBe(401);
    clock.advance(60);
    expect((await login(t, email, WRONG)).statusCode).toBe(401);
  });

  it('path spellings (//, trailing slash, case, percent-escapes, ;params, dot segments) share one bucket', async () => {
    const t = await appWith({ AUTH_RATE_LIMIT_PER_MINUTE: '4' });
    const email = uniqueEmail();
    // Each spelling is counted in the login bucket, whether or not the router takes it to the handler.
    const spellings = [
      '/v1/auth/%6Cogin',
      '//v1/auth/login',
      '/V1/Auth/Login/',
      '/v1/auth//login;jsessionid=1',
    ];
    const statuses = [];
    for (const url of spellings) statuses.push((await login(t, email, WRONG, '10.0.1.1', url)).statusCode);
    expect(statuses).toEqual([401, 404, 404, 404]);
    expectThrottled(await login(t, email, WRONG, '10.0.1.1'));

    // And the other way round: the budget spent on the canonical path, no spelling gets through.
    for (let i = 0; i < 4; i++) expect((await login(t, email, WRONG, '10.0.1.2')).statusCode).toBe(401);
    for (const url of [...spellings, '/v1/auth/./login', '/v1/auth/x/../login', '/v1/auth/login?x=1'])
      expectThrottled(await login(t, email, WRONG, '10.0.1.2', url));
  });

  it('counts before authentication: bad credentials on an authenticated auth route still spend the budget', async () => {
    const t = await appWith({ AUTH_RATE_LIMIT_PER_MINUTE: '2' });
    const sessions = () =>
      t.app.inject({
        method: 'GET',
        url: '/v1/auth/sessions',
        headers: { authorization: 'Bearer not-a-token' },
        remoteAddress: '10.0.2.1',
      });
    for (let i = 0; i < 2; i++) expect((await sessions()).statusCode).toBe(401);
    expectThrottled(await sessions());
  });

  it('a spelling that a wildcard route takes and finds nothing for is counted in the bucket it names', async () => {
    const t = await appWith({ AUTH_RATE_LIMIT_PER_MINUTE: '1' });
    const sessions = (url: string) => t.app.inject({ method: 'GET', url, remoteAddress: '10.0.3.1' });
    // The docs' static files are served under /docs/static/*, which takes this path.
    expect((await sessions('/docs/static/..%2f..%2fv1/auth/sessions')).statusCode).not.toBe(429);
    expectThrottled(await sessions('/v1/auth/sessions'));
  });

  it('a forged X-Forwarded-For buys no fresh budget unless TRUST_PROXY=true', async () => {
    const direct = await appWith({ AUTH_RATE_LIMIT_PER_MINUTE: '2' });
    const forged = (t: TestApp, i: number) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email: uniqueEmail(), password: WRONG },
        remoteAddress: '10.0.2.1',
        headers: { 'x-forwarded-for': `203.0.113.${i}` },
      });
    expect((await forged(direct, 1)).statusCode).toBe(401);
    expect((await forged(direct, 2)).statusCode).toBe(401);
    expectThrottled(await forged(direct, 3));

    // Behind a trusted proxy the forwarded address is the client's, so each is counted on its own.
    const proxied = await appWith({ AUTH_RATE_LIMIT_PER_MINUTE: '2', TRUST_PROXY: 'true' });
    for (let i = 1; i <= 3; i++) expect((await forged(proxied, i)).statusCode).toBe(401);
  });

  it('limits registrations per address', async () => {
    const t = await appWith({ AUTH_RATE_LIMIT_PER_MINUTE: '100' });
    const register = (ip: string) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/auth/register',
        payload: { email: uniqueEmail(), password: GOOD_PASSWORD },
        remoteAddress: ip,
      });
    for (let i = 0; i < ADDRESS_BUDGETS.register.limit; i++)
      expect((await register('10.0.3.1')).statusCode).toBe(201);
    expectThrottled(await register('10.0.3.1'));
    expect((await register('10.0.3.2')).statusCode).toBe(201);
  });

  it('limits verification resends per address, across accounts', async () => {
    const t = await appWith({ AUTH_RATE_LIMIT_PER_MINUTE: '100' });
    const resend = (token: string) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/auth/email/verify/resend',
        headers: { authorization: `Bearer ${token}` },
        remoteAddress: '10.0.4.1',
      });
    const budget = ADDRESS_BUDGETS.resend.limit;
    let sent = 0;
    while (sent < budget) {
      const user = await createSignedInUser(t.app);
      for (let i = 0; i < 2 && sent < budget; i++, sent++)
        expect((await resend(user.accessToken)).statusCode).toBe(202);
    }
    const fresh = await createSignedInUser(t.app);
    expectThrottled(await resend(fresh.accessToken));
  });

  it('AUTH_RATE_LIMIT_PER_MINUTE=0 turns the per-address limits off', async () => {
    const t = await appWith({ AUTH_RATE_LIMIT_PER_MINUTE: '0' });
    for (let i = 0; i < 30; i++) expect((await login(t, uniqueEmail(), WRONG)).statusCode).toBe(401);
  });
});

describe('sign-in failures per (account, address)', () => {
  const ENV = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '5' };

  it('password guessing from one address meets growing delays (1 s, 2 s, 4 s), even with the right password', async () => {
    const clock = new TestClock();
    const t = await appWith(ENV, clock);
    const user = await createUser(t.app);
    for (let i = 0; i < 5; i++) expect((await login(t, user.email, WRONG)).statusCode).toBe(401);
    const delays: string[] = [];
    for (const wait of [1, 2, 4]) {
      const refused = await login(t, user.email, WRONG);
      expectThrottled(refused);
      delays.push(refused.headers['retry-after'] as string);
      clock.advance(wait);
      expect((await login(t, user.email, WRONG)).statusCode).toBe(401);
    }
    expect(delays).toEqual(['1', '2', '4']);
    // While the pair waits, not even the right password is checked.
    expectThrottled(await login(t, user.email, user.password));
    expect(await login(t, user.email, WRONG).then((r) => r.headers['retry-after'])).toBe('8');
  });

  it('a guesser elsewhere cannot lock the owner out', async () => {
    const t = await appWith(ENV);
    const user = await createUser(t.app);
    for (let i = 0; i < 5; i++) await login(t, user.email, WRONG, '198.51.100.7');
    expectThrottled(await login(t, user.email, user.password, '198.51.100.7'));
    expect((await login(t, user.email, user.password, '10.0.5.1')).statusCode).toBe(200);
  });

  it('a successful sign-in clears its pair’s failures', async () => {
    const t = await appWith(ENV);
    const user = await createUser(t.app);
    for (let i = 0; i < 4; i++) expect((await login(t, user.email, WRONG)).statusCode).toBe(401);
    expect((await login(t, user.email, user.password)).statusCode).toBe(200);
    for (let i = 0; i < 5; i++) expect((await login(t, user.email, WRONG)).statusCode).toBe(401);
    expectThrottled(await login(t, user.email, WRONG));
  });

  it('a distributed guesser meets the per-account ceiling of 100 failures an hour; lock-outs are reported once', async () => {
    const clock = new TestClock();
    const t = await appWith(ENV, clock);
    const events: LockoutEvent[] = [];
    t.app.container.limits.onLockout = (event) => {
      events.push(event);
    };
    const user = await createUser(t.app);
    const ips = Array.from({ length: SIGN_IN.accountCeiling / 5 }, (_, i) => `192.0.2.${i + 1}`);
    for (const ip of ips)
      for (let i = 0; i < 5; i++) expect((await login(t, user.email, WRONG, ip)).statusCode).toBe(401);
    const refused = await login(t, user.email, user.password, '10.0.6.1');
    expectThrottled(refused);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(3000);
    expect(events.filter((e) => e.scope === 'pair')).toHaveLength(ips.length);
    expect(events.filter((e) => e.scope === 'account')).toEqual([
      { scope: 'account', account: { userId: user.user.id }, ip: ips.at(-1) },
    ]);
    clock.advance(3600);
    expect((await login(t, user.email, user.password, '10.0.6.1')).statusCode).toBe(200);
  });

  it('throttling does not reveal whether the account exists (same status, body and headers)', async () => {
    const t = await appWith(ENV);
    const user = await createUser(t.app);
    const unknown = uniqueEmail('nobody');
    for (let i = 0; i < 5; i++) {
      await login(t, user.email, WRONG);
      await login(t, unknown, WRONG);
    }
    const known = await login(t, user.email, WRONG);
    const missing = await login(t, unknown, WRONG);
    expectThrottled(known);
    expect(missing.statusCode).toBe(known.statusCode);
    expect(missing.body).toBe(known.body);
    const shape = (r: Response) =>
      Object.fromEntries(
        Object.entries(r.headers)
          .filter(([name]) => !['date', 'x-request-id'].includes(name))
          .map(([name, value]) => [name, value]),
      );
    expect(shape(missing)).toEqual(shape(known));
  });

  it('200 concurrent wrong passwords for one account from one address run at most LOGIN_MAX_FAILURES Argon2 verifications', async () => {
    const t = await appWith(ENV);
    const user = await createUser(t.app);
    const verify = vi.spyOn(t.app.container.hasher, 'verify');
    const responses = await Promise.all(Array.from({ length: 200 }, () => login(t, user.email, WRONG)));
    const statuses = responses.map((r) => r.statusCode);
    expect(verify).toHaveBeenCalledTimes(5);
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(195);
    for (const r of responses.filter((r) => r.statusCode === 429))
      expect(r.headers['retry-after']).toBeDefined();
    console.info(
      `[figures] 200 concurrent wrong passwords (memory store): ${verify.mock.calls.length} Argon2 verifications, ${statuses.filter((s) => s === 429).length} x 429`,
    );
  });

  it('the OAuth password grant spends the same budget as /login', async () => {
    const t = await appWith(ENV);
    const user = await createUser(t.app);
    const grant = (password: string) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/auth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ grant_type: 'password', username: user.email, password }).toString(),
        remoteAddress: '10.0.7.1',
      });
    for (let i = 0; i < 3; i++) expect((await login(t, user.email, WRONG, '10.0.7.1')).statusCode).toBe(401);
    for (let i = 0; i < 2; i++) expect((await grant(WRONG)).statusCode).toBe(401);
    expectThrottled(await grant(user.password));
    expectThrottled(await login(t, user.email, user.password, '10.0.7.1'));
  });

  it('LOGIN_MAX_FAILURES=0 turns the sign-in limits off', async () => {
    const t = await appWith({ AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' });
    const user = await createUser(t.app);
    for (let i = 0; i < 12; i++) expect((await login(t, user.email, WRONG)).statusCode).toBe(401);
    expect((await login(t, user.email, user.password)).statusCode).toBe(200);
  });
});
