import { type CryptoKey, decodeProtectedHeader } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, request, type TestApp, TestClock } from '../../../test/app.js';
import { createSignedInUser, type SignedIn } from '../../../test/factories.js';
import { signAccessToken } from '../../../test/tokens.js';

// AccessTokens keeps tokens it has verified; these tests hold the cache to the same answers the
// full verification gives.
const ACCESS_TTL = 900;
const ISSUER = 'http://tessera.test';

let t: TestApp;
const clock = new TestClock();
beforeAll(async () => {
  t = await createTestApp({ clock, env: { AUTH_RATE_LIMIT_PER_MINUTE: '0' } });
});
afterAll(() => t.close());
afterEach(() => vi.restoreAllMocks());

const me = (token: string) => request(t.app, 'GET', '/v1/users/me', { token });

describe('verified access tokens', () => {
  it('verify a token once: later requests with it skip the signature check', async () => {
    const user = await createSignedInUser(t.app);
    const keyLookups = vi.spyOn(t.app.container.keys, 'verificationKey');
    for (let i = 0; i < 5; i++) expect((await me(user.accessToken)).statusCode).toBe(200);
    expect(keyLookups).toHaveBeenCalledTimes(1);
  });

  it('a cached token still ends with its session', async () => {
    const user = await createSignedInUser(t.app);
    expect((await me(user.accessToken)).statusCode).toBe(200);
    expect((await request(t.app, 'POST', '/v1/auth/logout', { token: user.accessToken })).statusCode).toBe(
      204,
    );
    const after = await me(user.accessToken);
    expect(after.statusCode).toBe(401);
  });

  it('a cached token expires on time, with the expiry error', async () => {
    const user = await createSignedInUser(t.app);
    expect((await me(user.accessToken)).statusCode).toBe(200);
    clock.advance(ACCESS_TTL - 1);
    expect((await me(user.accessToken)).statusCode).toBe(200);
    // Five seconds of skew are allowed, as in the full check.
    clock.advance(6);
    const late = await me(user.accessToken);
    expect(late.statusCode).toBe(401);
    expect(late.json().code).toBe('token_expired');
  });

  it('a cached token fails once its signing key is no longer published', async () => {
    const user = await createSignedInUser(t.app);
    const old = t.app.container.keys.signingKey();
    const longLived = await signLongLived(old.kid, old.key, user);
    expect((await me(longLived)).statusCode).toBe(200);
    await t.app.container.keys.rotate();
    expect((await me(longLived)).statusCode).toBe(200);
    clock.advance(ACCESS_TTL + 61);
    const late = await me(longLived);
    expect(late.statusCode).toBe(401);
    expect(late.json().code).toBe('token_invalid');
    expect(decodeProtectedHeader(longLived).kid).toBe(old.kid);
  });
});

/** Signed with our key but valid for two hours, so only the key's withdrawal can end it. */
const signLongLived = (kid: string, key: CryptoKey, who: SignedIn) =>
  signAccessToken({ kid, key }, who, { issuer: ISSUER, now: clock.now(), ttlSeconds: 7200 });
