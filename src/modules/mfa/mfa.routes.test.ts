import { eq, sql } from 'drizzle-orm';
import { SignJWT } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, request, type TestApp, TestClock } from '../../../test/app.js';
import {
  addMember,
  createSignedInUser,
  createTenant,
  createUser,
  type SignedIn,
  type TestUser,
} from '../../../test/factories.js';
import { mfaChallenges, recoveryCodes, totpAuthenticators, users } from '../../db/schema/index.js';
import { RateLimitedError } from '../../domain/errors.js';
import { queryRows } from '../../platform/db.js';
import { MFA_TOKEN_TTL } from '../auth/access-tokens.js';
import { MAX_ATTEMPTS_PER_MFA_TOKEN, type MfaAttempt, noMfaLimits } from './mfa.service.js';

const NO_LIMITS = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };

interface Pair {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
  user: { id: string; email: string; mfaEnabled: boolean };
}

let t: TestApp;
const clock = new TestClock();
beforeAll(async () => {
  t = await createTestApp({ clock, env: NO_LIMITS });
});
afterAll(() => t.close());

const post = (url: string, options: { token?: string; body?: unknown } = {}) =>
  request(t.app, 'POST', url, options);
const me = (token: string) => request(t.app, 'GET', '/v1/users/me', { token });

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString());
}
function headerOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString());
}

/** The code an authenticator app shows now (or `steps` time-steps away) on the app's clock. */
function totp(secret: string, steps = 0): string {
  return TOTP.generate({
    secret: Secret.fromBase32(secret),
    timestamp: clock.now().getTime() + steps * 30_000,
  });
}

/** Moves to the next time-step and answers its code: a code no earlier sign-in has spent. */
function freshTotp(secret: string): string {
  clock.advance(30);
  return totp(secret);
}

/** A code of the same length that is not the current one, nor one of the window around it. */
function wrongTotp(secret: string): string {
  const window = new Set([-1, 0, 1].map((s) => totp(secret, s)));
  for (let i = 0; ; i++) {
    const candidate = String(i).padStart(6, '0');
    if (!window.has(candidate)) return candidate;
  }
}

interface MfaUser extends SignedIn {
  secret: string;
  recoveryCodes: string[];
}

/** A signed-in user who turned TOTP on through setup and enable. */
async function createMfaUser(): Promise<MfaUser> {
  const user = await createSignedInUser(t.app);
  const setup = await post('/v1/auth/mfa/totp/setup', { token: user.accessToken });
  expect(setup.statusCode).toBe(200);
  const { secret } = setup.json() as { secret: string };
  const enable = await post('/v1/auth/mfa/totp/enable', {
    token: user.accessToken,
    body: { code: totp(secret) },
  });
  expect(enable.statusCode).toBe(200);
  return { ...user, secret, recoveryCodes: (enable.json() as { recoveryCodes: string[] }).recoveryCodes };
}

async function loginForMfaToken(user: TestUser, tenantId?: string): Promise<string> {
  const response = await post('/v1/auth/login', {
    body: { email: user.email, password: user.password, ...(tenantId ? { tenantId } : {}) },
  });
  expect(response.statusCode).toBe(200);
  const body = response.json() as { mfaRequired: boolean; mfaToken: string };
  expect(body.mfaRequired).toBe(true);
  return body.mfaToken;
}

const verify = (mfaToken: string, code: string) => post('/v1/auth/mfa/verify', { body: { mfaToken, code } });

describe('POST /v1/auth/mfa/totp/setup', () => {
  it('answers a new base32 secret and its otpauth:// URL, issuer Tessera, labelled with the email', async () => {
    const user = await createSignedInUser(t.app);
    const response = await post('/v1/auth/mfa/totp/setup', { token: user.accessToken });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    const { secret, otpauthUrl } = response.json() as { secret: string; otpauthUrl: string };
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const url = new URL(otpauthUrl);
    expect(url.protocol).toBe('otpauth:');
    expect(url.host).toBe('totp');
    expect(decodeURIComponent(url.pathname)).toBe(`/Tessera:${user.email}`);
    expect(url.searchParams.get('secret')).toBe(secret);
    expect(url.searchParams.get('issuer')).toBe('Tessera');
    expect(url.searchParams.get('digits')).toBe('6');
    expect(url.searchParams.get('period')).toBe('30');
    // Pending: not on until enabled.
    expect((await me(user.accessToken)).json().mfaEnabled).toBe(false);
    expect(
      (await post('/v1/auth/login', { body: { email: user.email, password: user.password } })).json(),
    ).toHaveProperty('accessToken');
  });

  it('needs a bearer token', async () => {
    const response = await post('/v1/auth/mfa/totp/setup');
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('unauthenticated');
  });

  it('run again before enable, replaces the pending secret: only the new one enables', async () => {
    const user = await createSignedInUser(t.app);
    const first = (await post('/v1/auth/mfa/totp/setup', { token: user.accessToken })).json()
      .secret as string;
    const second = (await post('/v1/auth/mfa/totp/setup', { token: user.accessToken })).json()
      .secret as string;
    expect(second).not.toBe(first);
    const stale = await post('/v1/auth/mfa/totp/enable', {
      token: user.accessToken,
      body: { code: totp(first) },
    });
    expect(stale.statusCode).toBe(400);
    expect(stale.json().code).toBe('mfa.invalid_code');
    const ok = await post('/v1/auth/mfa/totp/enable', {
      token: user.accessToken,
      body: { code: totp(second) },
    });
    expect(ok.statusCode).toBe(200);
  });

  it('answers 409 mfa.already_enabled once TOTP is on, and keeps the secret', async () => {
    const user = await createMfaUser();
    const response = await post('/v1/auth/mfa/totp/setup', { token: user.accessToken });
    expect(response.statusCode).toBe(409);
    expect(response.json().code).toBe('mfa.already_enabled');
    const mfaToken = await loginForMfaToken(user);
    expect((await verify(mfaToken, freshTotp(user.secret))).statusCode).toBe(200);
  });
});

describe('POST /v1/auth/mfa/totp/enable', () => {
  it('turns TOTP on with a current code and answers 10 distinct recovery codes', async () => {
    const user = await createSignedInUser(t.app);
    const { secret } = (await post('/v1/auth/mfa/totp/setup', { token: user.accessToken })).json();
    const response = await post('/v1/auth/mfa/totp/enable', {
      token: user.accessToken,
      body: { code: totp(secret) },
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    const { recoveryCodes: codes } = response.json() as { recoveryCodes: string[] };
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[a-z2-9]{5}-[a-z2-9]{5}$/);
    expect((await me(user.accessToken)).json().mfaEnabled).toBe(true);
  });

  it('accepts the code of the previous and the next time-step (clock drift), not two steps away', async () => {
    for (const [steps, status] of [
      [-1, 200],
      [1, 200],
      [-2, 400],
      [2, 400],
    ] as const) {
      const user = await createSignedInUser(t.app);
      const { secret } = (await post('/v1/auth/mfa/totp/setup', { token: user.accessToken })).json();
      const response = await post('/v1/auth/mfa/totp/enable', {
        token: user.accessToken,
        body: { code: totp(secret, steps) },
      });
      expect(response.statusCode, `code ${steps} steps away`).toBe(status);
    }
  });

  it('answers 400 mfa.invalid_code for a wrong code, and TOTP stays off', async () => {
    const user = await createSignedInUser(t.app);
    const { secret } = (await post('/v1/auth/mfa/totp/setup', { token: user.accessToken })).json();
    for (const code of [wrongTotp(secret), 'abcdef', 'abcde-fghjk']) {
      const response = await post('/v1/auth/mfa/totp/enable', { token: user.accessToken, body: { code } });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'mfa.invalid_code', errors: [{ path: '/code' }] });
    }
    expect((await me(user.accessToken)).json().mfaEnabled).toBe(false);
  });

  it('answers 400 validation_failed for a missing code or an unknown field', async () => {
    const user = await createSignedInUser(t.app);
    for (const body of [{}, { code: '123456', extra: 1 }, { code: '123' }]) {
      const response = await post('/v1/auth/mfa/totp/enable', { token: user.accessToken, body });
      expect(response.statusCode).toBe(400);
      expect(response.json().code).toBe('validation_failed');
    }
  });

  it('answers 409 mfa.setup_required without a pending setup', async () => {
    const user = await createSignedInUser(t.app);
    const response = await post('/v1/auth/mfa/totp/enable', {
      token: user.accessToken,
      body: { code: '123456' },
    });
    expect(response.statusCode).toBe(409);
    expect(response.json().code).toBe('mfa.setup_required');
  });

  it('answers 409 mfa.already_enabled the second time, and the first recovery codes stay valid', async () => {
    const user = await createMfaUser();
    const again = await post('/v1/auth/mfa/totp/enable', {
      token: user.accessToken,
      body: { code: freshTotp(user.secret) },
    });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('mfa.already_enabled');
    const mfaToken = await loginForMfaToken(user);
    expect((await verify(mfaToken, user.recoveryCodes[0]!)).statusCode).toBe(200);
  });

  it('needs a bearer token', async () => {
    const response = await post('/v1/auth/mfa/totp/enable', { body: { code: '123456' } });
    expect(response.statusCode).toBe(401);
  });
});

describe('sign-in with TOTP on', () => {
  it('login answers { mfaRequired, mfaToken } and no token pair; the mfaToken is its own five-minute type', async () => {
    const user = await createMfaUser();
    const response = await post('/v1/auth/login', { body: { email: user.email, password: user.password } });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(Object.keys(body).sort()).toEqual(['mfaRequired', 'mfaToken']);
    expect(body.mfaRequired).toBe(true);
    expect(headerOf(body.mfaToken)).toMatchObject({ typ: 'mfa+jwt', alg: 'EdDSA', kid: expect.any(String) });
    const claims = claimsOf(body.mfaToken);
    expect(claims).toMatchObject({
      sub: user.user.id,
      iss: 'http://tessera.test',
      aud: 'http://tessera.test',
      jti: expect.any(String),
    });
    expect(claims).not.toHaveProperty('sid');
    expect(claims).not.toHaveProperty('permissions');
    expect((claims.exp as number) - (claims.iat as number)).toBe(MFA_TOKEN_TTL);
    expect(MFA_TOKEN_TTL).toBe(300);
  });

  it('a wrong password still answers 401 invalid_credentials, with no hint that MFA is on', async () => {
    const user = await createMfaUser();
    const response = await post('/v1/auth/login', {
      body: { email: user.email, password: 'wrong-password-1' },
    });
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('invalid_credentials');
    expect(response.body).not.toContain('mfa');
  });

  it('POST /mfa/verify with the mfaToken and a current code answers a token pair that works', async () => {
    const user = await createMfaUser();
    const mfaToken = await loginForMfaToken(user);
    const response = await verify(mfaToken, freshTotp(user.secret));
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    const pair = response.json() as Pair;
    expect(pair).toMatchObject({
      tokenType: 'Bearer',
      expiresIn: 900,
      user: { id: user.user.id, mfaEnabled: true },
    });
    expect(headerOf(pair.accessToken).typ).toBe('at+jwt');
    expect((await me(pair.accessToken)).statusCode).toBe(200);
    const refreshed = await post('/v1/auth/refresh', { body: { refreshToken: pair.refreshToken } });
    expect(refreshed.statusCode).toBe(200);
  });

  it('ignores spaces in a TOTP code (as apps show it: "123 456")', async () => {
    const user = await createMfaUser();
    const code = freshTotp(user.secret);
    const response = await verify(await loginForMfaToken(user), `${code.slice(0, 3)} ${code.slice(3)}`);
    expect(response.statusCode).toBe(200);
  });

  it('a wrong code answers 401 invalid_credentials and the mfaToken stays usable for the right one', async () => {
    const user = await createMfaUser();
    const mfaToken = await loginForMfaToken(user);
    const code = freshTotp(user.secret);
    for (const wrong of [wrongTotp(user.secret), 'zzzzz-zzzzz', 'not-a-code']) {
      const response = await verify(mfaToken, wrong);
      expect(response.statusCode).toBe(401);
      expect(response.json().code).toBe('invalid_credentials');
      expect(response.headers['www-authenticate']).toBe('Bearer');
    }
    expect((await verify(mfaToken, code)).statusCode).toBe(200);
  });

  it(`an mfaToken stops working after ${MAX_ATTEMPTS_PER_MFA_TOKEN} codes (brute force of one token)`, async () => {
    const user = await createMfaUser();
    const mfaToken = await loginForMfaToken(user);
    const code = freshTotp(user.secret);
    for (let i = 0; i < MAX_ATTEMPTS_PER_MFA_TOKEN; i++) {
      expect((await verify(mfaToken, wrongTotp(user.secret))).json().code).toBe('invalid_credentials');
    }
    const response = await verify(mfaToken, code);
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('token_invalid');
    // A new sign-in (one more password check) gets a new token.
    expect((await verify(await loginForMfaToken(user), code)).statusCode).toBe(200);
  });

  it('an mfaToken is single use: after a sign-in it is refused, even with a new code', async () => {
    const user = await createMfaUser();
    const mfaToken = await loginForMfaToken(user);
    expect((await verify(mfaToken, freshTotp(user.secret))).statusCode).toBe(200);
    const again = await verify(mfaToken, freshTotp(user.secret));
    expect(again.statusCode).toBe(401);
    expect(again.json().code).toBe('token_invalid');
    expect(again.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    const recovery = await verify(mfaToken, user.recoveryCodes[0]!);
    expect(recovery.json().code).toBe('token_invalid');
  });

  it('concurrent verifications of one mfaToken open one session only', async () => {
    const user = await createMfaUser();
    const mfaToken = await loginForMfaToken(user);
    clock.advance(30);
    const responses = await Promise.all([
      verify(mfaToken, totp(user.secret)),
      verify(mfaToken, user.recoveryCodes[0]!),
      verify(mfaToken, user.recoveryCodes[1]!),
    ]);
    expect(responses.map((r) => r.statusCode).filter((s) => s === 200)).toHaveLength(1);
  });

  it('an mfaToken expires after five minutes (401 token_expired)', async () => {
    const user = await createMfaUser();
    const early = await loginForMfaToken(user);
    const late = await loginForMfaToken(user);
    clock.advance(MFA_TOKEN_TTL - 30);
    expect((await verify(early, totp(user.secret))).statusCode).toBe(200);
    clock.advance(40); // past exp, and past the 5 s clock tolerance
    const response = await verify(late, totp(user.secret, 1));
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('token_expired');
  });

  it('a user deactivated between the two steps gets no session', async () => {
    const user = await createMfaUser();
    const mfaToken = await loginForMfaToken(user);
    await t.app.container.db.update(users).set({ isActive: false }).where(eq(users.id, user.user.id));
    const response = await verify(mfaToken, freshTotp(user.secret));
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('token_invalid');
  });

  it('the tenantId given at login is carried through the mfaToken into a tenant-scoped token', async () => {
    const user = await createMfaUser();
    const tenant = await createTenant(t.app, user);
    const mfaToken = await loginForMfaToken(user, tenant.id);
    expect(claimsOf(mfaToken).tid).toBe(tenant.id);
    const response = await verify(mfaToken, freshTotp(user.secret));
    expect(response.statusCode).toBe(200);
    const claims = claimsOf((response.json() as Pair).accessToken);
    expect(claims.tid).toBe(tenant.id);
    expect(claims.permissions).toEqual(expect.arrayContaining(['members:read']));
  });

  it('a tenantId the user is not a member of answers 403 at login, before any code', async () => {
    const user = await createMfaUser();
    const other = await createSignedInUser(t.app);
    const tenant = await createTenant(t.app, other);
    const response = await post('/v1/auth/login', {
      body: { email: user.email, password: user.password, tenantId: tenant.id },
    });
    expect(response.statusCode).toBe(403);
    expect(response.body).not.toContain('mfaToken');
  });

  it('membership lost between the two steps: 403 at verify, and the recovery code is not spent', async () => {
    const owner = await createSignedInUser(t.app);
    const tenant = await createTenant(t.app, owner);
    const user = await createMfaUser();
    await addMember(t.app, tenant.id, user);
    const mfaToken = await loginForMfaToken(user, tenant.id);
    const removed = await request(t.app, 'DELETE', `/v1/tenants/${tenant.id}/members/${user.user.id}`, {
      token: owner.accessToken,
    });
    expect(removed.statusCode).toBe(204);
    const response = await verify(mfaToken, user.recoveryCodes[0]!);
    expect(response.statusCode).toBe(403);
    expect((await verify(await loginForMfaToken(user), user.recoveryCodes[0]!)).statusCode).toBe(200);
  });

  it('POST /mfa/verify refuses a malformed body with 400', async () => {
    for (const body of [{}, { mfaToken: 'x' }, { mfaToken: 'x', code: '123456', extra: true }]) {
      const response = await post('/v1/auth/mfa/verify', { body });
      expect(response.statusCode).toBe(400);
      expect(response.json().code).toBe('validation_failed');
    }
  });
});

describe('codes work once', () => {
  it('a TOTP code cannot be replayed within its window (a second sign-in with the same code)', async () => {
    const user = await createMfaUser();
    const code = freshTotp(user.secret);
    expect((await verify(await loginForMfaToken(user), code)).statusCode).toBe(200);
    const replay = await verify(await loginForMfaToken(user), code);
    expect(replay.statusCode).toBe(401);
    expect(replay.json().code).toBe('invalid_credentials');
    // Nor an older code that is still inside the window.
    const older = await verify(await loginForMfaToken(user), totp(user.secret, -1));
    expect(older.statusCode).toBe(401);
    // The next time-step's code works.
    expect((await verify(await loginForMfaToken(user), freshTotp(user.secret))).statusCode).toBe(200);
  });

  it('the code that enabled TOTP cannot then sign in', async () => {
    const user = await createSignedInUser(t.app);
    const { secret } = (await post('/v1/auth/mfa/totp/setup', { token: user.accessToken })).json();
    const code = totp(secret);
    expect(
      (await post('/v1/auth/mfa/totp/enable', { token: user.accessToken, body: { code } })).statusCode,
    ).toBe(200);
    const response = await verify(await loginForMfaToken(user), code);
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('invalid_credentials');
  });

  it('one TOTP code sent concurrently with two mfaTokens signs in once', async () => {
    const user = await createMfaUser();
    const tokens = [await loginForMfaToken(user), await loginForMfaToken(user)];
    const code = freshTotp(user.secret);
    const responses = await Promise.all(tokens.map((token) => verify(token, code)));
    expect(responses.map((r) => r.statusCode).sort()).toEqual([200, 401]);
  });

  it('a recovery code signs in once; written without the dash or in capitals it is the same code', async () => {
    const user = await createMfaUser();
    const [first, second] = user.recoveryCodes as [string, string];
    expect((await verify(await loginForMfaToken(user), first)).statusCode).toBe(200);
    const reuse = await verify(await loginForMfaToken(user), first);
    expect(reuse.statusCode).toBe(401);
    expect(reuse.json().code).toBe('invalid_credentials');
    const loose = second.replace('-', '').toUpperCase();
    expect((await verify(await loginForMfaToken(user), loose)).statusCode).toBe(200);
    expect((await verify(await loginForMfaToken(user), second)).statusCode).toBe(401);
    const rows = await t.app.container.db
      .select()
      .from(recoveryCodes)
      .where(eq(recoveryCodes.userId, user.user.id));
    expect(rows).toHaveLength(10);
    expect(rows.filter((r) => r.usedAt !== null)).toHaveLength(2);
  });

  it("another user's recovery code does not work", async () => {
    const user = await createMfaUser();
    const other = await createMfaUser();
    const response = await verify(await loginForMfaToken(user), other.recoveryCodes[0]!);
    expect(response.statusCode).toBe(401);
  });
});

describe('token type confusion', () => {
  it('an mfaToken is never accepted as an access token (password alone must not reach the API)', async () => {
    const user = await createMfaUser();
    const mfaToken = await loginForMfaToken(user);
    for (const [method, url] of [
      ['GET', '/v1/users/me'],
      ['GET', '/v1/auth/principal'],
      ['GET', '/v1/auth/sessions'],
      ['POST', '/v1/auth/mfa/totp/setup'],
    ] as const) {
      const response = await request(t.app, method, url, { token: mfaToken });
      expect(response.statusCode, url).toBe(401);
      expect(response.json().code).toBe('token_invalid');
    }
    await expect(t.app.container.tokens.verify(mfaToken)).rejects.toMatchObject({ code: 'token_invalid' });
    await expect(t.app.container.authenticator.authenticate(`Bearer ${mfaToken}`)).rejects.toThrow();
  });

  it('an access token is never accepted as an mfaToken', async () => {
    const user = await createMfaUser();
    // A full session of this very user, so sub and signature are right: only the type is wrong.
    const pair = (await verify(await loginForMfaToken(user), freshTotp(user.secret))).json() as Pair;
    const response = await verify(pair.accessToken, freshTotp(user.secret));
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('token_invalid');
    for (const notAnMfaToken of [pair.refreshToken, 'not.a.jwt', '']) {
      const refused = await post('/v1/auth/mfa/verify', {
        body: { mfaToken: notAnMfaToken, code: totp(user.secret) },
      });
      expect([400, 401]).toContain(refused.statusCode);
    }
  });

  it('a token typed mfa+jwt that carries a session id is refused (mutually exclusive claims)', async () => {
    const user = await createMfaUser();
    const { kid, key } = t.app.container.keys.signingKey();
    const now = Math.floor(clock.now().getTime() / 1000);
    const forged = await new SignJWT({ sid: user.sessionId })
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'mfa+jwt' })
      .setIssuer('http://tessera.test')
      .setAudience('http://tessera.test')
      .setSubject(user.user.id)
      .setJti('forged-jti')
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(key);
    await expect(t.app.container.tokens.verifyMfa(forged)).rejects.toMatchObject({ code: 'token_invalid' });
    expect((await me(forged)).statusCode).toBe(401);
  });

  it('typ alone decides: our key, the right claims, the other typ is refused both ways', async () => {
    const user = await createMfaUser();
    const mfaToken = await loginForMfaToken(user);
    const { kid, key } = t.app.container.keys.signingKey();
    const now = Math.floor(clock.now().getTime() / 1000);
    const sign = (typ: string, payload: Record<string, unknown>, jti: string) =>
      new SignJWT(payload)
        .setProtectedHeader({ alg: 'EdDSA', kid, typ })
        .setIssuer('http://tessera.test')
        .setAudience('http://tessera.test')
        .setSubject(user.user.id)
        .setJti(jti)
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .sign(key);
    // Access-token claims (a live session) under the mfa type: not an access token.
    const accessShaped = await sign('mfa+jwt', { sid: user.sessionId }, 'a-jti');
    await expect(t.app.container.tokens.verify(accessShaped)).rejects.toMatchObject({
      code: 'token_invalid',
    });
    expect((await me(accessShaped)).statusCode).toBe(401);
    // The claims of the live challenge under the access type: not an mfaToken.
    const mfaShaped = await sign('at+jwt', {}, claimsOf(mfaToken).jti as string);
    const refused = await verify(mfaShaped, freshTotp(user.secret));
    expect(refused.statusCode).toBe(401);
    expect(refused.json().code).toBe('token_invalid');
    // The genuine one still works with that code's successor: nothing above spent it.
    expect((await verify(mfaToken, freshTotp(user.secret))).statusCode).toBe(200);
  });

  it('a validly signed mfaToken with no challenge behind it (a jti we never issued) is refused', async () => {
    const user = await createMfaUser();
    const forged = await t.app.container.tokens.issueMfa({ sub: user.user.id, jti: 'never-issued' });
    const response = await verify(forged, freshTotp(user.secret));
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('token_invalid');
  });
});

describe('POST /v1/auth/mfa/totp/disable', () => {
  it('needs the password: a wrong one answers 401 invalid_credentials and TOTP stays on', async () => {
    const user = await createMfaUser();
    const response = await post('/v1/auth/mfa/totp/disable', {
      token: user.accessToken,
      body: { password: 'not-the-password' },
    });
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('invalid_credentials');
    expect((await me(user.accessToken)).json().mfaEnabled).toBe(true);
    const missing = await post('/v1/auth/mfa/totp/disable', { token: user.accessToken, body: {} });
    expect(missing.statusCode).toBe(400);
    await loginForMfaToken(user);
  });

  it('with the password: 204, TOTP off, secret and recovery codes gone, login answers a token pair', async () => {
    const user = await createMfaUser();
    const pending = await loginForMfaToken(user);
    const response = await post('/v1/auth/mfa/totp/disable', {
      token: user.accessToken,
      body: { password: user.password },
    });
    expect(response.statusCode).toBe(204);
    expect((await me(user.accessToken)).json().mfaEnabled).toBe(false);
    const { db } = t.app.container;
    for (const table of [totpAuthenticators, recoveryCodes, mfaChallenges]) {
      expect(await db.select().from(table).where(eq(table.userId, user.user.id))).toEqual([]);
    }
    // An mfaToken issued before is dead.
    expect((await verify(pending, freshTotp(user.secret))).statusCode).toBe(401);
    const login = await post('/v1/auth/login', { body: { email: user.email, password: user.password } });
    expect(login.statusCode).toBe(200);
    expect(login.json()).toHaveProperty('accessToken');
    // And it can be set up again from scratch.
    expect((await post('/v1/auth/mfa/totp/setup', { token: user.accessToken })).statusCode).toBe(200);
  });

  it('answers 409 mfa.not_enabled when TOTP is off', async () => {
    const user = await createSignedInUser(t.app);
    const response = await post('/v1/auth/mfa/totp/disable', {
      token: user.accessToken,
      body: { password: user.password },
    });
    expect(response.statusCode).toBe(409);
    expect(response.json().code).toBe('mfa.not_enabled');
  });

  it('needs a bearer token', async () => {
    const response = await post('/v1/auth/mfa/totp/disable', { body: { password: 'whatever-1' } });
    expect(response.statusCode).toBe(401);
  });
});

describe('POST /v1/auth/token (OAuth password grant)', () => {
  const grant = (username: string, password: string) =>
    t.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ grant_type: 'password', username, password }).toString(),
    });

  it('does not bypass MFA: the right password of an MFA user answers 400 mfa_required and no token', async () => {
    const user = await createMfaUser();
    const response = await grant(user.email, user.password);
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('mfa_required');
    expect(response.body).not.toContain('access_token');
    expect(response.body).not.toMatch(/eyJ/);
    const wrong = await grant(user.email, 'wrong-password-1');
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().code).toBe('invalid_credentials');
  });

  it('still answers tokens for a user without MFA', async () => {
    const user = await createUser(t.app);
    const response = await grant(user.email, user.password);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toHaveProperty('access_token');
  });
});

describe('secrets at rest', () => {
  it('neither the TOTP secret nor any recovery code is in the database in clear', async () => {
    const user = await createMfaUser();
    const pendingUser = await createSignedInUser(t.app);
    const pending = (await post('/v1/auth/mfa/totp/setup', { token: pendingUser.accessToken })).json()
      .secret as string;
    const tables = await queryRows<{ table_name: string }>(
      t.app.container.db,
      sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`,
    );
    expect(tables.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['totp_authenticators', 'recovery_codes', 'mfa_challenges']),
    );
    let dump = '';
    for (const { table_name } of tables) {
      const rows = await queryRows(t.app.container.db, sql.raw(`select * from "${table_name}"`));
      dump += JSON.stringify(rows);
    }
    expect(dump).toContain(user.user.id);
    const lower = dump.toLowerCase();
    for (const secret of [user.secret, pending]) {
      expect(dump).not.toContain(secret);
      expect(lower).not.toContain(secret.toLowerCase());
      // Nor its bytes in hex or base64.
      const bytes = Buffer.from(Secret.fromBase32(secret).buffer);
      expect(lower).not.toContain(bytes.toString('hex'));
      expect(dump).not.toContain(bytes.toString('base64').slice(0, 20));
      expect(dump).not.toContain(bytes.toString('base64url').slice(0, 20));
    }
    for (const code of user.recoveryCodes) {
      expect(lower).not.toContain(code);
      expect(lower).not.toContain(code.replace('-', ''));
    }
    const [row] = await t.app.container.db
      .select()
      .from(totpAuthenticators)
      .where(eq(totpAuthenticators.userId, user.user.id));
    expect(row!.secretSealed).toMatch(/^v1\./);
    const hashes = await t.app.container.db
      .select()
      .from(recoveryCodes)
      .where(eq(recoveryCodes.userId, user.user.id));
    for (const h of hashes) expect(h.codeHash).toMatch(/^\$argon2id\$/);
  });

  it('codes, secrets and mfaTokens never reach the log', async () => {
    const user = await createMfaUser();
    const mfaToken = await loginForMfaToken(user);
    await verify(mfaToken, user.recoveryCodes[3]!);
    const log = t.logText();
    expect(log).not.toContain(user.secret);
    expect(log).not.toContain(mfaToken);
    for (const code of user.recoveryCodes) expect(log).not.toContain(code);
  });
});

describe('the sign-in limits seam', () => {
  it('every code attempt asks the limits first, and reports failures and successes', async () => {
    const user = await createMfaUser();
    const calls: Array<[string, MfaAttempt]> = [];
    const { mfa } = t.app.container;
    const wired = mfa.limits;
    mfa.limits = {
      before: async (a) => void calls.push(['before', a]),
      failed: async (a) => void calls.push(['failed', a]),
      succeeded: async (a) => void calls.push(['succeeded', a]),
    };
    try {
      const mfaToken = await loginForMfaToken(user);
      await verify(mfaToken, wrongTotp(user.secret));
      await verify(mfaToken, freshTotp(user.secret));
      expect(calls.map(([k]) => k)).toEqual(['before', 'failed', 'before', 'succeeded']);
      expect(calls[0]![1]).toEqual({ userId: user.user.id, email: user.email, ip: '127.0.0.1' });
    } finally {
      mfa.limits = wired;
    }
  });

  it('a spent sign-in budget answers 429 with Retry-After before any code is checked or spent', async () => {
    const user = await createMfaUser();
    const { mfa } = t.app.container;
    const wired = mfa.limits;
    mfa.limits = {
      ...noMfaLimits,
      before: async () => {
        throw new RateLimitedError(42);
      },
    };
    const mfaToken = await loginForMfaToken(user);
    try {
      const response = await verify(mfaToken, user.recoveryCodes[0]!);
      expect(response.statusCode).toBe(429);
      expect(response.headers['retry-after']).toBe('42');
    } finally {
      mfa.limits = wired;
    }
    // Neither the recovery code nor an attempt of the token was spent.
    expect((await verify(mfaToken, user.recoveryCodes[0]!)).statusCode).toBe(200);
  });
});

describe('MFA codes share the sign-in budget', () => {
  it('wrong codes count as sign-in failures: past the limit both /mfa/verify and /login answer 429', async () => {
    const limited = await createTestApp({
      clock,
      env: { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '3' },
      database: t.database,
    });
    try {
      const user = await createMfaUser();
      const login = () =>
        request(limited.app, 'POST', '/v1/auth/login', {
          body: { email: user.email, password: user.password },
        });
      const first = await login();
      expect(first.statusCode).toBe(200);
      const mfaToken = (first.json() as { mfaToken: string }).mfaToken;
      const attempt = (code: string) =>
        request(limited.app, 'POST', '/v1/auth/mfa/verify', { body: { mfaToken, code } });
      // The right code is taken first: the limits run on the same clock, and moving it would end the wait.
      const code = freshTotp(user.secret);
      for (let i = 0; i < 3; i++) expect((await attempt(wrongTotp(user.secret))).statusCode).toBe(401);
      const throttled = await attempt(code);
      expect(throttled.statusCode).toBe(429);
      expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
      const password = await login();
      expect(password.statusCode).toBe(429);
    } finally {
      await limited.close();
    }
  });
});
