import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, request, type TestApp } from '../../../test/app.js';
import { createUser, GOOD_PASSWORD, uniqueEmail } from '../../../test/factories.js';
import { refreshTokens, sessions, users } from '../../db/schema/index.js';

/** Rate limits are not what this file tests; keep them out of the way should they be switched on. */
const NO_LIMITS = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString());
}

async function rowCounts(t: TestApp) {
  const { db } = t.app.container;
  const [u] = await db.select({ n: count() }).from(users);
  const [s] = await db.select({ n: count() }).from(sessions);
  const [r] = await db.select({ n: count() }).from(refreshTokens);
  return { users: Number(u!.n), sessions: Number(s!.n), refreshTokens: Number(r!.n) };
}

function form(fields: Array<[string, string]>): string {
  return new URLSearchParams(fields).toString();
}

function postForm(t: TestApp, body: string, contentType = 'application/x-www-form-urlencoded') {
  return t.app.inject({
    method: 'POST',
    url: '/v1/auth/token',
    headers: { 'content-type': contentType },
    payload: body,
  });
}

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: NO_LIMITS });
});
afterAll(() => t.close());

describe('POST /v1/auth/register', () => {
  const register = (body: unknown) => request(t.app, 'POST', '/v1/auth/register', { body });

  it('creates the user and answers 201 with a token pair', async () => {
    const email = uniqueEmail('Reg').replace('reg', 'ReG');
    const response = await register({ email, password: GOOD_PASSWORD, name: 'Ada' });

    expect(response.statusCode).toBe(201);
    const pair = response.json();
    expect(pair).toEqual({
      tokenType: 'Bearer',
      accessToken: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      expiresIn: 900,
      refreshToken: expect.any(String),
      user: {
        id: expect.stringMatching(UUID),
        email: email.toLowerCase(),
        name: 'Ada',
        emailVerified: false,
        isActive: true,
        isSuperuser: false,
        mfaEnabled: false,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      },
    });
    expect(pair.refreshToken.length).toBeGreaterThanOrEqual(40);

    const claims = claimsOf(pair.accessToken);
    expect(claims.sub).toBe(pair.user.id);
    expect(claims.sid).toEqual(expect.stringMatching(UUID));

    const [row] = await t.app.container.db.select().from(users).where(eq(users.id, pair.user.id));
    expect(row!.email).toBe(email.toLowerCase());
    expect(row!.passwordHash).toMatch(/^\$argon2id\$/);
    expect(row!.passwordHash).not.toContain(GOOD_PASSWORD);
    const [session] = await t.app.container.db
      .select()
      .from(sessions)
      .where(eq(sessions.id, claims.sid as string));
    expect(session).toMatchObject({ userId: pair.user.id, revokedAt: null });

    const me = await request(t.app, 'GET', '/v1/users/me', { token: pair.accessToken });
    expect(me.statusCode).toBe(200);
    expect(me.json().email).toBe(email.toLowerCase());
  });

  it('works without a name', async () => {
    const response = await register({ email: uniqueEmail(), password: GOOD_PASSWORD });
    expect(response.statusCode).toBe(201);
    expect(response.json().user.name).toBeNull();
  });

  it('trims the email, as the contract says emails are', async () => {
    const email = uniqueEmail('trim');
    const response = await register({ email: `  ${email.toUpperCase()}\t`, password: GOOD_PASSWORD });
    expect(response.statusCode).toBe(201);
    expect(response.json().user.email).toBe(email);
  });

  it('accepts a 10-character emoji password and an accented one (lengths count code points)', async () => {
    // 10 code points, 20 UTF-16 units.
    const emoji = '🔐🦊🌊🎲🚀🍀🎹🧭🪐🐙';
    const first = await register({ email: uniqueEmail(), password: emoji });
    expect(first.statusCode).toBe(201);
    const login = await request(t.app, 'POST', '/v1/auth/login', {
      body: { email: first.json().user.email, password: emoji },
    });
    expect(login.statusCode).toBe(200);

    const accented = await register({ email: uniqueEmail(), password: 'çàéîõüñøß' });
    expect(accented.statusCode).toBe(201);
  });

  it('matches a password typed with a decomposed accent to the composed one (NFKC)', async () => {
    const email = uniqueEmail();
    const composed = 'caf\u00e9-terrasse-du-port';
    expect((await register({ email, password: composed })).statusCode).toBe(201);
    const decomposed = 'cafe\u0301-terrasse-du-port';
    const login = await request(t.app, 'POST', '/v1/auth/login', { body: { email, password: decomposed } });
    expect(login.statusCode).toBe(200);
  });

  it('accepts exactly 8 and exactly 128 characters', async () => {
    expect((await register({ email: uniqueEmail(), password: 'qv7#pZ2!' })).statusCode).toBe(201);
    const long = 'é'.repeat(64) + 'x'.repeat(64);
    expect([...long]).toHaveLength(128);
    expect((await register({ email: uniqueEmail(), password: long })).statusCode).toBe(201);
  });

  it('answers 409 conflict for a taken email, whatever its case or surrounding whitespace', async () => {
    const { email } = await createUser(t.app);
    const before = await rowCounts(t);
    for (const variant of [email, email.toUpperCase(), `  ${email} `, ` ${email.toUpperCase()}`]) {
      const response = await register({ email: variant, password: GOOD_PASSWORD });
      expect(response.statusCode, variant).toBe(409);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json()).toMatchObject({ status: 409, code: 'conflict' });
    }
    expect(await rowCounts(t)).toEqual(before);
  });

  describe('refuses bad input with 400 and changes nothing', () => {
    const cases: Array<[string, unknown, string]> = [
      ['a malformed email', { email: 'not-an-email', password: GOOD_PASSWORD }, 'validation_failed'],
      ['an email without a domain', { email: 'alice@', password: GOOD_PASSWORD }, 'validation_failed'],
      ['a missing email', { password: GOOD_PASSWORD }, 'validation_failed'],
      ['a missing password', { email: 'missing-pw@example.test' }, 'validation_failed'],
      ['a 7-character password', { email: 'short@example.test', password: 'qv7#pZ2' }, 'validation_failed'],
      [
        'a 7-emoji password (14 UTF-16 units)',
        { email: 'emoji7@example.test', password: '🔐🦊🌊🎲🚀🍀🎹' },
        'validation_failed',
      ],
      [
        'a 129-character password',
        { email: 'long@example.test', password: 'x'.repeat(129) },
        'validation_failed',
      ],
      [
        'a password that NFKC-normalises past 128 characters',
        { email: 'ligature@example.test', password: '\ufb01'.repeat(100) },
        'validation_failed',
      ],
      [
        'a common password (baseball)',
        { email: 'common1@example.test', password: 'baseball' },
        'password.too_common',
      ],
      [
        'a common password in another case (FootBall)',
        { email: 'common2@example.test', password: 'FootBall' },
        'password.too_common',
      ],
      [
        'a common password (password123)',
        { email: 'common3@example.test', password: 'password123' },
        'password.too_common',
      ],
      [
        'an unknown field',
        { email: 'extra@example.test', password: GOOD_PASSWORD, isSuperuser: true },
        'validation_failed',
      ],
      ['a numeric email', { email: 123, password: GOOD_PASSWORD }, 'validation_failed'],
      ['a numeric password', { email: 'num@example.test', password: 12345678 }, 'validation_failed'],
      [
        'an empty name',
        { email: 'name@example.test', password: GOOD_PASSWORD, name: '' },
        'validation_failed',
      ],
      ['an array body', [{ email: 'arr@example.test', password: GOOD_PASSWORD }], 'validation_failed'],
      [
        'an invitation token (no invitation is valid yet)',
        { email: 'invited@example.test', password: GOOD_PASSWORD, invitationToken: 'inv_nope' },
        'invitation.invalid',
      ],
    ];

    it.each(cases)('%s', async (_label, body, code) => {
      const before = await rowCounts(t);
      const response = await register(body);
      expect(response.statusCode).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json()).toMatchObject({ status: 400, code });
      expect(await rowCounts(t)).toEqual(before);
    });

    it('names the offending field', async () => {
      const response = await register({ email: 'fields@example.test', password: GOOD_PASSWORD, role: 'x' });
      expect(response.json().errors).toEqual([{ path: '/role', message: expect.any(String) }]);
      const common = await register({ email: 'fields@example.test', password: 'football' });
      expect(common.json().errors).toEqual([{ path: '/password', message: expect.any(String) }]);
    });

    it('malformed JSON and a __proto__ key', async () => {
      const before = await rowCounts(t);
      for (const payload of [
        '{"email": "x@example.test", ',
        `{"email":"proto@example.test","password":"${GOOD_PASSWORD}","__proto__":{"isSuperuser":true}}`,
      ]) {
        const response = await t.app.inject({
          method: 'POST',
          url: '/v1/auth/register',
          headers: { 'content-type': 'application/json' },
          payload,
        });
        expect(response.statusCode).toBe(400);
        expect(response.json().code).toBe('validation_failed');
      }
      expect(await rowCounts(t)).toEqual(before);
    });
  });
});

describe('sign-up disabled (ALLOW_SIGNUP=false)', () => {
  let closed: TestApp;
  beforeAll(async () => {
    closed = await createTestApp({ env: { ...NO_LIMITS, ALLOW_SIGNUP: 'false' } });
  });
  afterAll(() => closed.close());

  it('POST /register answers 403 signup_disabled and creates nothing', async () => {
    const before = await rowCounts(closed);
    const response = await request(closed.app, 'POST', '/v1/auth/register', {
      body: { email: uniqueEmail(), password: GOOD_PASSWORD },
    });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ status: 403, code: 'signup_disabled' });
    expect(await rowCounts(closed)).toEqual(before);
  });

  it('existing users still sign in', async () => {
    const user = await createUser(closed.app);
    const response = await request(closed.app, 'POST', '/v1/auth/login', {
      body: { email: user.email, password: user.password },
    });
    expect(response.statusCode).toBe(200);
  });
});

describe('POST /v1/auth/login', () => {
  const login = (body: unknown, headers?: Record<string, string>) =>
    request(t.app, 'POST', '/v1/auth/login', { body, ...(headers ? { headers } : {}) });

  it('answers 200 with a token pair and opens a session with the client address and user agent', async () => {
    const user = await createUser(t.app, { name: 'Grace' });
    const response = await login(
      { email: user.email, password: user.password },
      { 'user-agent': 'tessera-tests/1.0' },
    );
    expect(response.statusCode).toBe(200);
    const pair = response.json();
    expect(pair).toMatchObject({
      tokenType: 'Bearer',
      expiresIn: 900,
      refreshToken: expect.any(String),
      user: { id: user.user.id, email: user.email, name: 'Grace' },
    });
    const claims = claimsOf(pair.accessToken);
    expect(claims).toMatchObject({
      sub: user.user.id,
      iss: 'http://tessera.test',
      aud: 'http://tessera.test',
    });
    expect(claims.exp).toBe((claims.iat as number) + 900);
    expect(claims).not.toHaveProperty('tid');

    const [session] = await t.app.container.db
      .select()
      .from(sessions)
      .where(eq(sessions.id, claims.sid as string));
    expect(session).toMatchObject({
      userId: user.user.id,
      ip: '127.0.0.1',
      userAgent: 'tessera-tests/1.0',
      revokedAt: null,
    });
  });

  it('each sign-in opens a new session', async () => {
    const user = await createUser(t.app);
    const a = (await login({ email: user.email, password: user.password })).json();
    const b = (await login({ email: user.email, password: user.password })).json();
    expect(claimsOf(a.accessToken).sid).not.toBe(claimsOf(b.accessToken).sid);
    expect(a.refreshToken).not.toBe(b.refreshToken);
  });

  it('compares the email case-insensitively and ignores surrounding whitespace', async () => {
    const user = await createUser(t.app);
    for (const email of [user.email.toUpperCase(), `  ${user.email}  `]) {
      const response = await login({ email, password: user.password });
      expect(response.statusCode, email).toBe(200);
      expect(response.json().user.id).toBe(user.user.id);
    }
  });

  it('answers 401 invalid_credentials with one body for unknown email, wrong password and deactivated user', async () => {
    const known = await createUser(t.app);
    const inactive = await createUser(t.app, { isActive: false });
    const before = await rowCounts(t);

    const answers = [
      await login({ email: uniqueEmail('nobody'), password: GOOD_PASSWORD }),
      await login({ email: known.email, password: `${GOOD_PASSWORD}!` }),
      await login({ email: inactive.email, password: inactive.password }),
    ];
    for (const response of answers) {
      expect(response.statusCode).toBe(401);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(response.json()).toMatchObject({ status: 401, code: 'invalid_credentials' });
    }
    expect(answers[1]!.body).toBe(answers[0]!.body);
    expect(answers[2]!.body).toBe(answers[0]!.body);
    expect(answers[1]!.headers['www-authenticate']).toBe(answers[0]!.headers['www-authenticate']);
    expect(answers[2]!.headers['www-authenticate']).toBe(answers[0]!.headers['www-authenticate']);
    expect(await rowCounts(t)).toEqual(before);
  });

  it('does not trim or case-fold the password', async () => {
    const user = await createUser(t.app);
    for (const password of [` ${user.password}`, `${user.password} `, user.password.toUpperCase()]) {
      expect((await login({ email: user.email, password })).statusCode).toBe(401);
    }
  });

  it('with a tenantId answers 403 (no tenants exist yet) and opens no session', async () => {
    const user = await createUser(t.app);
    const before = await rowCounts(t);
    const response = await login({
      email: user.email,
      password: user.password,
      tenantId: '01890000-0000-7000-8000-000000000000',
    });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ status: 403, code: 'forbidden' });
    expect(await rowCounts(t)).toEqual(before);
  });

  it('with a tenantId and a wrong password answers 401, not 403', async () => {
    const user = await createUser(t.app);
    const response = await login({
      email: user.email,
      password: 'wrong-password-123',
      tenantId: '01890000-0000-7000-8000-000000000000',
    });
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('invalid_credentials');
  });

  it.each<[string, unknown]>([
    ['a tenantId that is not a uuid', { email: 'a@example.test', password: 'whatever1', tenantId: 'acme' }],
    ['an unknown field', { email: 'a@example.test', password: 'whatever1', remember: true }],
    ['a numeric email', { email: 1, password: 'whatever1' }],
    ['a missing password', { email: 'a@example.test' }],
    ['an empty password', { email: 'a@example.test', password: '' }],
  ])('answers 400 for %s', async (_label, body) => {
    const response = await login(body);
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('validation_failed');
  });

  it('answers 415 for a body that is neither JSON nor a form', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: { 'content-type': 'application/xml' },
      payload: '<login/>',
    });
    expect(response.statusCode).toBe(415);
    expect(response.json().code).toBe('unsupported_media_type');
  });
});

describe('POST /v1/auth/token (OAuth2 form)', () => {
  it('grant_type=password answers an OAuth2 token response', async () => {
    const user = await createUser(t.app);
    const response = await postForm(
      t,
      form([
        ['grant_type', 'password'],
        ['username', user.email.toUpperCase()],
        ['password', user.password],
      ]),
    );
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 900,
      refresh_token: expect.any(String),
    });
    expect(claimsOf(body.access_token).sub).toBe(user.user.id);
    const me = await request(t.app, 'GET', '/v1/users/me', { token: body.access_token });
    expect(me.statusCode).toBe(200);
  });

  it('grant_type=refresh_token rotates the refresh token', async () => {
    const user = await createUser(t.app);
    const first = (
      await postForm(
        t,
        form([
          ['grant_type', 'password'],
          ['username', user.email],
          ['password', user.password],
        ]),
      )
    ).json();
    const second = await postForm(
      t,
      form([
        ['grant_type', 'refresh_token'],
        ['refresh_token', first.refresh_token],
      ]),
    );
    expect(second.statusCode).toBe(200);
    const body = second.json();
    expect(body).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 900,
      refresh_token: expect.any(String),
    });
    expect(body.refresh_token).not.toBe(first.refresh_token);
    expect(claimsOf(body.access_token).sid).toBe(claimsOf(first.access_token).sid);

    const again = await postForm(
      t,
      form([
        ['grant_type', 'refresh_token'],
        ['refresh_token', first.refresh_token],
      ]),
    );
    expect(again.statusCode).toBe(401);
    expect(again.json().code).toBe('token_invalid');
  });

  it('accepts the optional scope and client_id fields the /docs page sends', async () => {
    const user = await createUser(t.app);
    const response = await postForm(
      t,
      form([
        ['grant_type', 'password'],
        ['username', user.email],
        ['password', user.password],
        ['scope', ''],
        ['client_id', 'docs'],
      ]),
    );
    expect(response.statusCode).toBe(200);
  });

  it('answers 401 invalid_credentials for a wrong password', async () => {
    const user = await createUser(t.app);
    const response = await postForm(
      t,
      form([
        ['grant_type', 'password'],
        ['username', user.email],
        ['password', 'not-the-password'],
      ]),
    );
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('invalid_credentials');
    expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it.each<[string, Array<[string, string]>]>([
    [
      'an unsupported grant',
      [
        ['grant_type', 'client_credentials'],
        ['client_id', 'x'],
        ['client_secret', 'y'],
      ],
    ],
    [
      'an authorization_code grant',
      [
        ['grant_type', 'authorization_code'],
        ['code', 'abc'],
      ],
    ],
    [
      'no grant_type',
      [
        ['username', 'a@example.test'],
        ['password', 'whatever1'],
      ],
    ],
    [
      'a password grant without a password',
      [
        ['grant_type', 'password'],
        ['username', 'a@example.test'],
      ],
    ],
    [
      'an unknown field',
      [
        ['grant_type', 'password'],
        ['username', 'a@example.test'],
        ['password', 'whatever1'],
        ['tenant', 'x'],
      ],
    ],
    [
      'a repeated username',
      [
        ['grant_type', 'password'],
        ['username', 'a@example.test'],
        ['username', 'b@example.test'],
        ['password', 'whatever1'],
      ],
    ],
    [
      'a repeated grant_type',
      [
        ['grant_type', 'password'],
        ['grant_type', 'password'],
        ['username', 'a@example.test'],
        ['password', 'whatever1'],
      ],
    ],
    [
      'a refresh grant with refresh_token twice',
      [
        ['grant_type', 'refresh_token'],
        ['refresh_token', 'a'],
        ['refresh_token', 'b'],
      ],
    ],
  ])('answers 400 for %s', async (_label, fields) => {
    const before = await rowCounts(t);
    const response = await postForm(t, form(fields));
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ status: 400, code: 'validation_failed' });
    expect(await rowCounts(t)).toEqual(before);
  });

  it('refuses a repeated password field even when one copy is right', async () => {
    const user = await createUser(t.app);
    const response = await postForm(
      t,
      form([
        ['grant_type', 'password'],
        ['username', user.email],
        ['password', 'wrong-password-1'],
        ['password', user.password],
      ]),
    );
    expect(response.statusCode).toBe(400);
  });

  it('answers 415 for a JSON body: the endpoint speaks OAuth2 form encoding only', async () => {
    const user = await createUser(t.app);
    const before = await rowCounts(t);
    const response = await request(t.app, 'POST', '/v1/auth/token', {
      body: { grant_type: 'password', username: user.email, password: user.password },
    });
    expect(response.statusCode).toBe(415);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ status: 415, code: 'unsupported_media_type' });
    expect(await rowCounts(t)).toEqual(before);
  });

  it('answers 415 for text/plain too', async () => {
    const response = await postForm(t, 'grant_type=password', 'text/plain');
    expect(response.statusCode).toBe(415);
    expect(response.json().code).toBe('unsupported_media_type');
  });

  it('accepts a charset parameter on the form content type', async () => {
    const user = await createUser(t.app);
    const response = await postForm(
      t,
      form([
        ['grant_type', 'password'],
        ['username', user.email],
        ['password', user.password],
      ]),
      'application/x-www-form-urlencoded; charset=UTF-8',
    );
    expect(response.statusCode).toBe(200);
  });

  it('answers 400 when no body is sent', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/v1/auth/token' });
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('validation_failed');
  });
});

describe('GET /v1/auth/principal', () => {
  it('answers the signed-in user', async () => {
    const user = await createUser(t.app, { name: 'Lin' });
    const pair = (
      await request(t.app, 'POST', '/v1/auth/login', { body: { email: user.email, password: user.password } })
    ).json();
    const response = await request(t.app, 'GET', '/v1/auth/principal', { token: pair.accessToken });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      type: 'user',
      user: {
        id: user.user.id,
        email: user.email,
        name: 'Lin',
        emailVerified: false,
        isActive: true,
        isSuperuser: false,
        mfaEnabled: false,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      },
    });
  });

  it('answers 401 unauthenticated without credentials', async () => {
    const response = await request(t.app, 'GET', '/v1/auth/principal');
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('unauthenticated');
    expect(response.headers['www-authenticate']).toBe('Bearer');
  });
});
