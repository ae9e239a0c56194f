import { count, eq, isNull } from 'drizzle-orm';
import { type CryptoKey, createLocalJWKSet, decodeProtectedHeader, type JWK, jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, request, type TestApp, TestClock } from '../../../test/app.js';
import { createSignedInUser, type SignedIn, signIn } from '../../../test/factories.js';
import { signAccessToken } from '../../../test/tokens.js';
import { signingKeys } from '../../db/schema/index.js';
import { randomToken } from '../../domain/secrets.js';

const NO_LIMITS = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };
const ACCESS_TTL = 900;
const ISSUER = 'http://tessera.test';

let t: TestApp;
const clock = new TestClock();
beforeAll(async () => {
  t = await createTestApp({ clock, env: NO_LIMITS });
});
afterAll(() => t.close());
afterEach(() => vi.restoreAllMocks());

async function jwks(app: TestApp = t): Promise<{ keys: JWK[] }> {
  const response = await request(app.app, 'GET', '/.well-known/jwks.json');
  expect(response.statusCode).toBe(200);
  return response.json();
}

const kidOf = (token: string) => decodeProtectedHeader(token).kid;
const me = (token: string, app: TestApp = t) => request(app.app, 'GET', '/v1/users/me', { token });

/** A token signed directly with `key` under `kid`, valid for the next ten minutes by the clock. */
const signWith = (kid: string, key: CryptoKey, who: SignedIn) =>
  signAccessToken({ kid, key }, who, { issuer: ISSUER, now: clock.now(), ttlSeconds: 600 });

describe('the key set', () => {
  it('publishes the signing key as a public Ed25519 JWK, without private parts', async () => {
    const { keys } = await jwks();
    const { kid } = t.app.container.keys.signingKey();
    const published = keys.find((k) => k.kid === kid);
    expect(published).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: expect.any(String),
      kid,
      alg: 'EdDSA',
      use: 'sig',
    });
    for (const key of keys) expect(key).not.toHaveProperty('d');
  });

  it('access tokens carry the signing key’s kid and verify offline against the published JWKS', async () => {
    const user = await createSignedInUser(t.app);
    const header = decodeProtectedHeader(user.accessToken);
    expect(header).toEqual({ alg: 'EdDSA', kid: t.app.container.keys.signingKey().kid, typ: 'at+jwt' });

    // What another service does: fetch the JWKS, verify locally.
    const { payload } = await jwtVerify(user.accessToken, createLocalJWKSet(await jwks()), {
      issuer: ISSUER,
      audience: ISSUER,
      currentDate: clock.now(),
    });
    expect(payload).toMatchObject({ sub: user.user.id, sid: user.sessionId });
  });

  it('keeps the private key sealed in the database', async () => {
    const rows = await t.app.container.db.select().from(signingKeys);
    expect(rows.length).toBeGreaterThanOrEqual(1);
    for (const row of rows) {
      expect(row.privateKeySealed).toMatch(/^v1\./);
      expect(row.privateKeySealed).not.toContain('"d"');
      expect(row.publicJwk).not.toHaveProperty('d');
    }
  });

  it('another app on the same database signs with the same key (no second key is made)', async () => {
    const before = await t.app.container.db.select({ n: count() }).from(signingKeys);
    const second = await createTestApp({ clock, env: NO_LIMITS, database: t.database });
    try {
      expect(second.app.container.keys.signingKey().kid).toBe(t.app.container.keys.signingKey().kid);
      const user = await createSignedInUser(t.app);
      expect((await me(user.accessToken, second)).statusCode).toBe(200);
      const after = await t.app.container.db.select({ n: count() }).from(signingKeys);
      expect(after).toEqual(before);
    } finally {
      await second.close();
    }
  });

  it('an unknown kid re-reads the keys at most once however many arrive', async () => {
    const user = await createSignedInUser(t.app);
    const { key } = t.app.container.keys.signingKey();
    const reload = vi.spyOn(t.app.container.keys, 'reload');
    const responses = await Promise.all(
      Array.from({ length: 20 }, async () => me(await signWith(randomToken(8), key, user))),
    );
    for (const response of responses) expect(response.statusCode).toBe(401);
    expect(reload.mock.calls.length).toBeLessThanOrEqual(1);
  });
});

describe('rotation', () => {
  it('publishes both keys; old tokens keep working; new tokens carry the new kid', async () => {
    const keys = t.app.container.keys;
    const old = keys.signingKey();
    const user = await createSignedInUser(t.app);
    expect(kidOf(user.accessToken)).toBe(old.kid);

    const newKid = await keys.rotate();
    expect(newKid).not.toBe(old.kid);
    expect(keys.signingKey().kid).toBe(newKid);

    const published = (await jwks()).keys.map((k) => k.kid);
    expect(published).toEqual(expect.arrayContaining([old.kid, newKid]));

    expect((await me(user.accessToken)).statusCode).toBe(200);
    const fresh = await signIn(t.app, user);
    expect(kidOf(fresh.accessToken)).toBe(newKid);
    expect((await me(fresh.accessToken)).statusCode).toBe(200);
    const refreshed = await request(t.app, 'POST', '/v1/auth/refresh', {
      body: { refreshToken: user.refreshToken },
    });
    expect(kidOf(refreshed.json().accessToken)).toBe(newKid);

    const [oldRow] = await t.app.container.db.select().from(signingKeys).where(eq(signingKeys.id, old.kid));
    expect(oldRow!.retiredAt).toEqual(clock.now());
    const active = await t.app.container.db.select().from(signingKeys).where(isNull(signingKeys.retiredAt));
    expect(active.map((k) => k.id)).toEqual([newKid]);
  });

  it('a retired key stays published for one token lifetime plus a minute, then leaves', async () => {
    const keys = t.app.container.keys;
    const old = keys.signingKey();
    const user = await createSignedInUser(t.app);
    const newKid = await keys.rotate();

    clock.advance(ACCESS_TTL);
    await keys.reload();
    expect((await jwks()).keys.map((k) => k.kid)).toEqual(expect.arrayContaining([old.kid, newKid]));
    // Still inside the window: a token the retired key signed is accepted.
    expect((await me(await signWith(old.kid, old.key, user))).statusCode).toBe(200);

    clock.advance(61);
    await keys.reload();
    const published = (await jwks()).keys.map((k) => k.kid);
    expect(published).toEqual([newKid]);

    // Past the window the retired key signs nothing we accept, even a token that has not expired.
    const late = await me(await signWith(old.kid, old.key, user));
    expect(late.statusCode).toBe(401);
    expect(late.json().code).toBe('token_invalid');
    const fresh = await signIn(t.app, user);
    expect((await me(fresh.accessToken)).statusCode).toBe(200);
  });

  it('the window closes on the clock even before the keys are re-read', async () => {
    const keys = t.app.container.keys;
    const old = keys.signingKey();
    const user = await createSignedInUser(t.app);
    await keys.rotate();
    clock.advance(ACCESS_TTL + 61);
    expect((await jwks()).keys.map((k) => k.kid)).not.toContain(old.kid);
    expect((await me(await signWith(old.kid, old.key, user))).statusCode).toBe(401);
  });

  it('a key rotated on one instance is published and accepted by another', async () => {
    const second = await createTestApp({ clock, env: NO_LIMITS, database: t.database });
    try {
      const user = await createSignedInUser(t.app);
      const old = t.app.container.keys.signingKey();
      const newKid = await t.app.container.keys.rotate();

      // The other instance hears of it through NOTIFY; give it up to a second.
      for (let i = 0; i < 50 && second.app.container.keys.signingKey().kid !== newKid; i++)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect(second.app.container.keys.signingKey().kid).toBe(newKid);
      expect((await jwks(second)).keys.map((k) => k.kid)).toEqual(expect.arrayContaining([old.kid, newKid]));

      const fresh = await signIn(t.app, user);
      expect(kidOf(fresh.accessToken)).toBe(newKid);
      expect((await me(fresh.accessToken, second)).statusCode).toBe(200);
      expect((await me(user.accessToken, second)).statusCode).toBe(200);
    } finally {
      await second.close();
    }
  });
});
