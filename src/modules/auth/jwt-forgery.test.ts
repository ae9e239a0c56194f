import {
  base64url,
  CompactSign,
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTHeaderParameters,
} from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, request, type TestApp, TestClock } from '../../../test/app.js';
import { createSignedInUser, type SignedIn, signIn } from '../../../test/factories.js';
import { uuidv7 } from '../../domain/ids.js';
import { randomToken } from '../../domain/secrets.js';
import { AccessTokens } from './access-tokens.js';

/**
 * Every way we know to forge or bend an access token. Each must answer 401 on GET /v1/users/me.
 * Tokens that should fail one check only are signed with the service's own private key, so the
 * test fails if that one check is ever dropped (a bad signature would hide it otherwise).
 */
const NO_LIMITS = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };
const ISSUER = 'http://tessera.test';

let t: TestApp;
let user: SignedIn;
let ours: { kid: string; key: CryptoKey };
let ourPublicJwk: JWK;
let attacker: { publicKey: CryptoKey; privateKey: CryptoKey; publicJwk: JWK };

beforeAll(async () => {
  t = await createTestApp({ env: NO_LIMITS });
  user = await createSignedInUser(t.app);
  ours = t.app.container.keys.signingKey();
  ourPublicJwk = t.app.container.keys.jwks().keys.find((k) => k.kid === ours.kid)!;
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  attacker = { ...pair, publicJwk: await exportJWK(pair.publicKey) };
});
afterAll(() => t.close());
afterEach(() => vi.restoreAllMocks());

type Claims = Record<string, unknown>;

/** Claims the service would accept, for `who`'s live session. */
function claims(who: SignedIn = user, overrides: Claims = {}): Claims {
  const now = Math.floor(Date.now() / 1000);
  const base: Claims = {
    iss: ISSUER,
    aud: ISSUER,
    sub: who.user.id,
    sid: who.sessionId,
    jti: randomToken(16),
    iat: now,
    exp: now + 600,
    ...overrides,
  };
  for (const [name, value] of Object.entries(base)) if (value === undefined) delete base[name];
  return base;
}

function header(overrides: Record<string, unknown> = {}): JWTHeaderParameters {
  const base: Record<string, unknown> = { alg: 'EdDSA', kid: ours.kid, typ: 'at+jwt', ...overrides };
  for (const [name, value] of Object.entries(base)) if (value === undefined) delete base[name];
  return base as JWTHeaderParameters;
}

function sign(
  protectedHeader: JWTHeaderParameters,
  payload: Claims,
  key: CryptoKey | Uint8Array = ours.key,
  crit?: Record<string, boolean>,
): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(protectedHeader)
    .sign(key, crit ? { crit } : undefined);
}

function encode(part: unknown): string {
  return base64url.encode(JSON.stringify(part));
}

async function expectRefused(authorization: string, code = 'token_invalid'): Promise<void> {
  const response = await t.app.inject({
    method: 'GET',
    url: '/v1/users/me',
    headers: { authorization },
  });
  expect(response.statusCode).toBe(401);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.json()).toMatchObject({ status: 401, code });
  expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
  // Nothing about the user may leak on a refusal.
  expect(response.body).not.toContain(user.email);
}

const bearer = (token: string) => `Bearer ${token}`;

describe('controls: what the forgeries are measured against', () => {
  it('the real access token works', async () => {
    const response = await request(t.app, 'GET', '/v1/users/me', { token: user.accessToken });
    expect(response.statusCode).toBe(200);
  });

  it('a token this test signs with the service key and valid claims works', async () => {
    const response = await request(t.app, 'GET', '/v1/users/me', {
      token: await sign(header(), claims()),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().id).toBe(user.user.id);
  });

  it('the scheme name is case-insensitive (RFC 9110)', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/v1/users/me',
      headers: { authorization: `bearer ${user.accessToken}` },
    });
    expect(response.statusCode).toBe(200);
  });
});

describe('algorithm confusion', () => {
  it.each(['none', 'None', 'NONE'])('alg %s with no signature', async (alg) => {
    const token = `${encode(header({ alg }))}.${encode(claims())}.`;
    await expectRefused(bearer(token));
  });

  it('alg none with the real signature left on', async () => {
    const signature = user.accessToken.split('.')[2];
    await expectRefused(bearer(`${encode(header({ alg: 'none' }))}.${encode(claims())}.${signature}`));
  });

  it('HS256 keyed with the raw bytes of our public key (JWK x)', async () => {
    const secret = base64url.decode(ourPublicJwk.x!);
    await expectRefused(bearer(await sign(header({ alg: 'HS256' }), claims(), secret)));
  });

  it('HS256 keyed with the base64url x string of our public key', async () => {
    const secret = new TextEncoder().encode(ourPublicJwk.x!);
    await expectRefused(bearer(await sign(header({ alg: 'HS256' }), claims(), secret)));
  });

  it('HS256 keyed with our public JWK as published in the JWKS', async () => {
    const secret = new TextEncoder().encode(JSON.stringify(ourPublicJwk));
    await expectRefused(bearer(await sign(header({ alg: 'HS256' }), claims(), secret)));
  });

  it('HS256 keyed with the PEM (SPKI) of our public key', async () => {
    const publicKey = (await importJWK(ourPublicJwk, 'EdDSA', { extractable: true })) as CryptoKey;
    const pem = await exportSPKI(publicKey);
    for (const secret of [pem, pem.trim()]) {
      const token = await sign(header({ alg: 'HS256' }), claims(), new TextEncoder().encode(secret));
      await expectRefused(bearer(token));
    }
  });

  it('HS512 keyed with our public key bytes', async () => {
    const secret = base64url.decode(ourPublicJwk.x!);
    await expectRefused(bearer(await sign(header({ alg: 'HS512' }), claims(), secret)));
  });
});

describe('keys the token names for itself', () => {
  it('an unknown kid, signed by an attacker key', async () => {
    await expectRefused(bearer(await sign(header({ kid: 'attacker-key' }), claims(), attacker.privateKey)));
  });

  it('an unknown kid, even when signed by our key', async () => {
    await expectRefused(bearer(await sign(header({ kid: `${ours.kid}x` }), claims())));
  });

  it('a kid that names an Object prototype property', async () => {
    for (const kid of ['__proto__', 'constructor', 'toString']) {
      await expectRefused(bearer(await sign(header({ kid }), claims())));
    }
  });

  it('no kid, signed by our key', async () => {
    await expectRefused(bearer(await sign(header({ kid: undefined }), claims())));
  });

  it('a numeric kid', async () => {
    await expectRefused(bearer(await sign(header({ kid: 1 }), claims())));
  });

  it('our kid, signed by a different Ed25519 key', async () => {
    await expectRefused(bearer(await sign(header(), claims(), attacker.privateKey)));
  });

  it('a jku header pointing at the attacker’s JWKS, signed by the attacker; nothing is fetched', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const token = await sign(
      header({ kid: 'attacker-key', jku: 'https://attacker.example/jwks.json' }),
      claims(),
      attacker.privateKey,
    );
    await expectRefused(bearer(token));
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('a jku header with our kid, signed by the attacker', async () => {
    const token = await sign(
      header({ jku: 'https://attacker.example/jwks.json' }),
      claims(),
      attacker.privateKey,
    );
    await expectRefused(bearer(token));
  });

  it('an embedded jwk header carrying the attacker’s public key', async () => {
    for (const kid of [ours.kid, undefined]) {
      const token = await sign(header({ kid, jwk: attacker.publicJwk }), claims(), attacker.privateKey);
      await expectRefused(bearer(token));
    }
  });

  it('an x5u header, signed by the attacker; nothing is fetched', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const token = await sign(
      header({ x5u: 'https://attacker.example/cert.pem' }),
      claims(),
      attacker.privateKey,
    );
    await expectRefused(bearer(token));
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('jku, jwk, x5u and x5c headers are refused even on a token our key signed', async () => {
    const params = [
      { jku: 'https://attacker.example/jwks.json' },
      { jwk: ourPublicJwk },
      { x5u: 'https://attacker.example/cert.pem' },
      { x5c: ['MIIB'] },
    ];
    for (const extra of params) await expectRefused(bearer(await sign(header(extra), claims())));
  });

  it('a crit header naming an extension we do not understand', async () => {
    const token = await sign(
      header({ crit: ['x-tessera-admin'], 'x-tessera-admin': true }),
      claims(),
      ours.key,
      {
        'x-tessera-admin': true,
      },
    );
    await expectRefused(bearer(token));
  });
});

describe('token type', () => {
  it('typ JWT instead of at+jwt', async () => {
    await expectRefused(bearer(await sign(header({ typ: 'JWT' }), claims())));
  });

  it('no typ', async () => {
    await expectRefused(bearer(await sign(header({ typ: undefined }), claims())));
  });

  it('another token type (an id token, an MFA token)', async () => {
    for (const typ of ['id+jwt', 'mfa+jwt', 'refresh+jwt']) {
      await expectRefused(bearer(await sign(header({ typ }), claims())));
    }
  });
});

describe('claims', () => {
  it('a wrong iss', async () => {
    await expectRefused(bearer(await sign(header(), claims(user, { iss: 'https://evil.example' }))));
  });

  it('a wrong aud', async () => {
    await expectRefused(bearer(await sign(header(), claims(user, { aud: 'https://other-service.example' }))));
  });

  it('an aud list without us', async () => {
    await expectRefused(bearer(await sign(header(), claims(user, { aud: ['a', 'b'] }))));
  });

  it('an expired token answers token_expired', async () => {
    const hourAgo = new TestClock(Date.now() - 3_600_000);
    const tokens = new AccessTokens(t.app.container.keys, ISSUER, 900, hourAgo);
    const token = await tokens.issue({ sub: user.user.id, sid: user.sessionId });
    await expectRefused(bearer(token), 'token_expired');
  });

  it('an exp in the past by more than the clock tolerance answers token_expired', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await sign(header(), claims(user, { iat: now - 1000, exp: now - 60 }));
    await expectRefused(bearer(token), 'token_expired');
  });

  it('not valid yet (nbf in the future)', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRefused(bearer(await sign(header(), claims(user, { nbf: now + 600 }))));
  });

  it.each(['sid', 'sub', 'exp', 'iat', 'jti', 'iss', 'aud'])('missing %s', async (claim) => {
    await expectRefused(bearer(await sign(header(), claims(user, { [claim]: undefined }))));
  });

  it('a sid that is not a string', async () => {
    await expectRefused(bearer(await sign(header(), claims(user, { sid: 12345 }))));
  });

  it('a non-numeric exp', async () => {
    await expectRefused(bearer(await sign(header(), claims(user, { exp: '9999999999' }))));
  });

  it('a session id that does not exist', async () => {
    await expectRefused(bearer(await sign(header(), claims(user, { sid: uuidv7() }))));
  });

  it('another user’s session under my sub (and my session under theirs)', async () => {
    const other = await createSignedInUser(t.app);
    await expectRefused(bearer(await sign(header(), claims(user, { sid: other.sessionId }))));
    await expectRefused(bearer(await sign(header(), claims(other, { sid: user.sessionId }))));
  });
});

describe('tampering', () => {
  function parts(token: string): [string, string, string] {
    const [h, p, s] = token.split('.');
    return [h!, p!, s!];
  }

  it('a payload with another sub, the signature kept', async () => {
    const other = await createSignedInUser(t.app);
    const [h, p, s] = parts(user.accessToken);
    const payload = JSON.parse(new TextDecoder().decode(base64url.decode(p)));
    const forged = encode({ ...payload, sub: other.user.id, sid: other.sessionId });
    await expectRefused(bearer(`${h}.${forged}.${s}`));
  });

  it('a payload with a later exp, the signature kept', async () => {
    const [h, p, s] = parts(user.accessToken);
    const payload = JSON.parse(new TextDecoder().decode(base64url.decode(p)));
    await expectRefused(bearer(`${h}.${encode({ ...payload, exp: payload.exp + 86_400 })}.${s}`));
  });

  it('a header with another kid, the signature kept', async () => {
    const [, p, s] = parts(user.accessToken);
    await expectRefused(bearer(`${encode(header({ kid: 'other' }))}.${p}.${s}`));
  });

  it('one flipped signature character', async () => {
    const [h, p, s] = parts(user.accessToken);
    const flipped = (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    await expectRefused(bearer(`${h}.${p}.${flipped}`));
  });

  it('the signature stripped', async () => {
    const [h, p] = parts(user.accessToken);
    await expectRefused(bearer(`${h}.${p}.`));
    await expectRefused(bearer(`${h}.${p}`));
  });

  it('a fourth segment appended', async () => {
    await expectRefused(bearer(`${user.accessToken}.AAAA`));
  });
});

describe('malformed Authorization headers', () => {
  it.each([
    ['garbage', 'Bearer garbage'],
    ['three dots of nothing', 'Bearer ..'],
    ['a JWS JSON serialization', `Bearer {"payload":"e30","signatures":[]}`],
    ['base64 noise', `Bearer ${randomToken(64)}.${randomToken(64)}.${randomToken(64)}`],
    ['a refresh token as access token', 'REFRESH'],
    ['Bearer with no token', 'Bearer'],
    ['Bearer and a space', 'Bearer '],
    ['Basic credentials', `Basic ${Buffer.from('someone:secret').toString('base64')}`],
    ['a token without a scheme', 'TOKEN'],
    ['two tokens', 'Bearer TOKEN TOKEN'],
  ])('%s', async (_label, header) => {
    const value = header
      .replace('REFRESH', `Bearer ${user.refreshToken}`)
      .replaceAll('TOKEN', user.accessToken);
    await expectRefused(value);
  });

  it('a token from a session that was revoked', async () => {
    const me = await signIn(t.app, user);
    expect((await request(t.app, 'GET', '/v1/users/me', { token: me.accessToken })).statusCode).toBe(200);
    const revoke = await request(t.app, 'DELETE', `/v1/auth/sessions/${me.sessionId}`, {
      token: user.accessToken,
    });
    expect(revoke.statusCode).toBe(204);
    await expectRefused(bearer(me.accessToken));
    // Re-signing its claims with our own key does not bring the session back.
    await expectRefused(bearer(await sign(header(), claims(me))));
  });
});
