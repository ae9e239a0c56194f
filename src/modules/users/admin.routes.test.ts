import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Response, request, type TestApp } from '../../../test/app.js';
import {
  createSignedInUser,
  createSuperuser,
  createUser,
  GOOD_PASSWORD,
  type SignedIn,
  signIn,
  uniqueEmail,
} from '../../../test/factories.js';
import { sessions, users } from '../../db/schema/index.js';
import { uuidv7 } from '../../domain/ids.js';
import { encodeCursor } from '../../platform/pagination.js';

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

interface UserBody {
  id: string;
  email: string;
  name: string | null;
  isActive: boolean;
  isSuperuser: boolean;
  createdAt: string;
}

function expectProblem(response: Response, status: number, code: string): void {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.json()).toMatchObject({ status, code });
}

const tag = () => randomBytes(4).toString('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('/v1/users administration', () => {
  let t: TestApp;
  let admin: SignedIn;
  let regular: SignedIn;

  beforeAll(async () => {
    t = await createTestApp({ env: ENV });
    admin = await createSuperuser(t.app);
    regular = await createSignedInUser(t.app);
  });
  afterAll(() => t.close());

  const as = (who: SignedIn | undefined) => (who ? { token: who.accessToken } : {});
  const get = (url: string, who: SignedIn | undefined = admin) => request(t.app, 'GET', url, as(who));
  const login = (email: string, password: string) =>
    request(t.app, 'POST', '/v1/auth/login', { body: { email, password } });
  const row = async (id: string) => {
    const [found] = await t.app.container.db.select().from(users).where(eq(users.id, id));
    return found;
  };

  /** Every page of a listing, following nextCursor to the end. */
  async function allPages(query: string, limit: number): Promise<{ pages: UserBody[][]; ids: string[] }> {
    const pages: UserBody[][] = [];
    let cursor: string | null = null;
    do {
      const url = `/v1/users?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const response = await get(url);
      expect(response.statusCode, response.body).toBe(200);
      const body = response.json() as { data: UserBody[]; nextCursor: string | null };
      pages.push(body.data);
      cursor = body.nextCursor;
      expect(pages.length).toBeLessThan(100);
    } while (cursor);
    return { pages, ids: pages.flat().map((u) => u.id) };
  }

  describe('who may call', () => {
    it('refuses every admin route to a regular user with 403 forbidden, changing nothing', async () => {
      const victim = await createUser(t.app, { name: 'Victim' });
      const id = victim.user.id;
      const forbiddenEmail = uniqueEmail('forbidden');
      const calls: Array<[string, string, unknown?]> = [
        ['GET', '/v1/users'],
        ['GET', '/v1/users?q=a'],
        ['POST', '/v1/users', { email: forbiddenEmail, password: GOOD_PASSWORD }],
        ['GET', `/v1/users/${id}`],
        ['PATCH', `/v1/users/${id}`, { name: 'Renamed' }],
        ['PATCH', `/v1/users/${regular.user.id}`, { isSuperuser: true }],
        ['DELETE', `/v1/users/${id}`],
      ];
      for (const [method, url, body] of calls) {
        const response = await request(t.app, method as 'GET', url, { token: regular.accessToken, body });
        expectProblem(response, 403, 'forbidden');
      }
      expect((await row(id))?.name).toBe('Victim');
      expect((await row(regular.user.id))?.isSuperuser).toBe(false);
      expect(await t.app.container.users.findByEmail(forbiddenEmail)).toBeUndefined();
    });

    it('answers 401 with WWW-Authenticate on every admin route without a token', async () => {
      const id = regular.user.id;
      for (const [method, url] of [
        ['GET', '/v1/users'],
        ['POST', '/v1/users'],
        ['GET', `/v1/users/${id}`],
        ['PATCH', `/v1/users/${id}`],
        ['DELETE', `/v1/users/${id}`],
      ] as const) {
        const response = await request(t.app, method, url);
        expectProblem(response, 401, 'unauthenticated');
        expect(response.headers['www-authenticate']).toBe('Bearer');
      }
      expect(await row(id)).toBeDefined();
    });

    it('authenticates before validating: a regular user gets 403, not 400, for bad input', async () => {
      const response = await request(t.app, 'GET', '/v1/users/not-a-uuid', { token: regular.accessToken });
      expectProblem(response, 403, 'forbidden');
    });
  });

  describe('GET /v1/users', () => {
    it('lists users newest first in the User shape, 20 by default', async () => {
      for (let i = 0; i < 21; i++) await createUser(t.app);
      await sleep(5);
      const newest = await createUser(t.app, { name: 'Newest' });
      const response = await get('/v1/users');
      expect(response.statusCode).toBe(200);
      const body = response.json() as { data: UserBody[]; nextCursor: string | null };
      expect(Object.keys(body).sort()).toEqual(['data', 'nextCursor']);
      expect(body.data).toHaveLength(20);
      expect(typeof body.nextCursor).toBe('string');
      expect(body.data[0]?.id).toBe(newest.user.id);
      for (const user of body.data) expect(Object.keys(user).sort()).toEqual(USER_FIELDS);
      expect(response.body).not.toMatch(/password/i);
      const ids = body.data.map((u) => u.id);
      expect(ids).toEqual([...ids].sort().reverse());
      const times = body.data.map((u) => Date.parse(u.createdAt));
      expect(times).toEqual([...times].sort((a, b) => b - a));
    });

    it('pages through every user with the keyset cursor, without duplicates or gaps', async () => {
      for (let i = 0; i < 12; i++) await createUser(t.app);
      const everyone = await t.app.container.db.select({ id: users.id }).from(users);
      const expected = everyone
        .map((u) => u.id)
        .sort()
        .reverse();
      const { pages, ids } = await allPages('', 7);
      expect(ids).toEqual(expected);
      expect(new Set(ids).size).toBe(ids.length);
      expect(pages.length).toBe(Math.ceil(expected.length / 7));
      for (const page of pages.slice(0, -1)) expect(page).toHaveLength(7);
    });

    it('answers nextCursor null when the last page is exactly full', async () => {
      const label = tag();
      for (let i = 0; i < 6; i++) await createUser(t.app, { name: `exact-${label}` });
      const { pages } = await allPages(`&q=exact-${label}`, 3);
      expect(pages.map((p) => p.length)).toEqual([3, 3]);
    });

    it('keeps pages stable when users are added between requests', async () => {
      const label = tag();
      const created: string[] = [];
      for (let i = 0; i < 9; i++)
        created.push((await createUser(t.app, { name: `stable-${label}` })).user.id);
      const first = (await get(`/v1/users?limit=4&q=stable-${label}`)).json();
      await createUser(t.app, { name: `stable-${label}` });
      const second = (
        await get(`/v1/users?limit=4&q=stable-${label}&cursor=${encodeURIComponent(first.nextCursor)}`)
      ).json();
      const third = (
        await get(`/v1/users?limit=4&q=stable-${label}&cursor=${encodeURIComponent(second.nextCursor)}`)
      ).json();
      const seen = [...first.data, ...second.data, ...third.data].map((u: UserBody) => u.id);
      expect(seen).toEqual([...created].sort().reverse());
      expect(third.nextCursor).toBeNull();
    });

    it('searches email and name case-insensitively with ?q=', async () => {
      const label = tag();
      const byEmail = await createUser(t.app, { email: `Finder.${label}@Example.test` });
      const byName = await createUser(t.app, { name: `Grace FINDME${label} Hopper` });
      await createUser(t.app, { name: 'Someone else' });

      const email = await allPages(`&q=${encodeURIComponent(`FINDER.${label.toUpperCase()}`)}`, 20);
      expect(email.ids).toEqual([byEmail.user.id]);
      const name = await allPages(`&q=${encodeURIComponent(`findme${label}`)}`, 20);
      expect(name.ids).toEqual([byName.user.id]);
      const either = await allPages(`&q=${label}`, 20);
      expect(either.ids.sort()).toEqual([byEmail.user.id, byName.user.id].sort());
      expect((await allPages(`&q=nobody-${label}`, 20)).ids).toEqual([]);
    });

    it('matches LIKE wildcards %, _ and \\ in ?q= literally', async () => {
      const label = tag();
      const percent = await createUser(t.app, { name: `${label} 100% sure` });
      await createUser(t.app, { name: `${label} 100 x sure` });
      const underscore = await createUser(t.app, { name: `${label} a_b` });
      await createUser(t.app, { name: `${label} axb` });
      const backslash = await createUser(t.app, { name: `${label} c\\d` });
      await createUser(t.app, { name: `${label} cd` });

      const q = async (text: string) => (await allPages(`&q=${encodeURIComponent(text)}`, 50)).ids;
      expect(await q(`${label} 100%`)).toEqual([percent.user.id]);
      expect(await q(`${label} a_b`)).toEqual([underscore.user.id]);
      expect(await q(`${label} c\\d`)).toEqual([backslash.user.id]);
      expect(await q(`${label} c\\`)).toEqual([backslash.user.id]);
      // Bare wildcards match only names that contain them, not everything.
      const all = await t.app.container.db.select({ id: users.id, name: users.name }).from(users);
      const withPercent = all.filter((u) => u.name?.includes('%')).map((u) => u.id);
      expect((await q('%')).sort()).toEqual(withPercent.sort());
      const withUnderscore = all.filter((u) => u.name?.includes('_')).map((u) => u.id);
      // Every test email contains a hyphen but no underscore, so only names can match.
      expect((await q('_')).sort()).toEqual(withUnderscore.sort());
    });

    it.each([
      ['garbage', 'not-a-cursor'],
      ['a base64 non-uuid', encodeCursor('not-a-uuid')],
      ['base64 without the version prefix', Buffer.from(uuidv7()).toString('base64url')],
      ['a raw uuid', uuidv7()],
      ['SQL', "' or 1=1 --"],
      ['201 characters', 'a'.repeat(201)],
    ])('answers 400 for a bad cursor: %s', async (_label, cursor) => {
      const response = await get(`/v1/users?cursor=${encodeURIComponent(cursor)}`);
      expectProblem(response, 400, 'validation_failed');
    });

    it.each(['0', '101', '-1', 'abc', '1.5'])('answers 400 for ?limit=%s', async (limit) => {
      expectProblem(await get(`/v1/users?limit=${limit}`), 400, 'validation_failed');
    });

    it('accepts limit 1 and 100', async () => {
      const one = await get('/v1/users?limit=1');
      expect(one.statusCode).toBe(200);
      expect(one.json().data).toHaveLength(1);
      const hundred = await get('/v1/users?limit=100');
      expect(hundred.statusCode).toBe(200);
    });

    it('answers 400 for a 201-character q', async () => {
      expectProblem(await get(`/v1/users?q=${'q'.repeat(201)}`), 400, 'validation_failed');
    });

    it('accepts a valid cursor of a deleted user and continues after it', async () => {
      const label = tag();
      const made: string[] = [];
      for (let i = 0; i < 4; i++) made.push((await createUser(t.app, { name: `gone-${label}` })).user.id);
      const [oldest, second, third, newest] = made as [string, string, string, string];
      const first = (await get(`/v1/users?limit=2&q=gone-${label}`)).json();
      expect(first.data.map((u: UserBody) => u.id)).toEqual([newest, third]);
      expect((await request(t.app, 'DELETE', `/v1/users/${third}`, as(admin))).statusCode).toBe(204);
      const rest = (await get(`/v1/users?limit=2&q=gone-${label}&cursor=${first.nextCursor}`)).json();
      expect(rest.data.map((u: UserBody) => u.id)).toEqual([second, oldest]);
    });
  });

  describe('POST /v1/users', () => {
    it('creates a user (201) who can sign in', async () => {
      const email = uniqueEmail('Created').toUpperCase();
      const response = await request(t.app, 'POST', '/v1/users', {
        ...as(admin),
        body: { email: email, password: 'sturdy-walrus-pillow-3', name: 'New Person' },
      });
      expect(response.statusCode, response.body).toBe(201);
      const body = response.json();
      expect(Object.keys(body).sort()).toEqual(USER_FIELDS);
      expect(body).toMatchObject({
        email: email.toLowerCase(),
        name: 'New Person',
        isSuperuser: false,
        isActive: true,
        emailVerified: false,
        mfaEnabled: false,
      });
      const stored = await row(body.id);
      expect(stored?.email).toBe(email.toLowerCase());
      expect(stored?.passwordHash).toMatch(/^\$argon2id\$/);
      expect((await login(email, 'sturdy-walrus-pillow-3')).statusCode).toBe(200);
    });

    it('creates a verified superuser when asked', async () => {
      const email = uniqueEmail('made-admin');
      const response = await request(t.app, 'POST', '/v1/users', {
        ...as(admin),
        body: { email, password: GOOD_PASSWORD, isSuperuser: true, emailVerified: true },
      });
      expect(response.statusCode).toBe(201);
      expect(response.json()).toMatchObject({ isSuperuser: true, emailVerified: true, name: null });
      const made = await signIn(t.app, {
        user: (await row(response.json().id))!,
        email,
        password: GOOD_PASSWORD,
      });
      expect((await get('/v1/users?limit=1', made)).statusCode).toBe(200);
    });

    it('answers 409 conflict for an email taken in another case, creating nothing', async () => {
      const existing = await createUser(t.app);
      const before = await t.app.container.db.select({ id: users.id }).from(users);
      const response = await request(t.app, 'POST', '/v1/users', {
        ...as(admin),
        body: { email: existing.email.toUpperCase(), password: GOOD_PASSWORD },
      });
      expectProblem(response, 409, 'conflict');
      expect(await t.app.container.db.select({ id: users.id }).from(users)).toHaveLength(before.length);
      expect((await row(existing.user.id))?.passwordHash).toBe(existing.user.passwordHash);
    });

    it('answers 400 password.too_common for a common password', async () => {
      const email = uniqueEmail('common');
      const response = await request(t.app, 'POST', '/v1/users', {
        ...as(admin),
        body: { email, password: 'baseball' },
      });
      expectProblem(response, 400, 'password.too_common');
      expect(response.json().errors).toEqual([{ path: '/password', message: expect.any(String) }]);
      expect(await t.app.container.users.findByEmail(email)).toBeUndefined();
    });

    it.each([
      ['a bad email', { email: 'not-an-email', password: GOOD_PASSWORD }],
      ['a short password', { email: 'x@example.test', password: 'short' }],
      ['no password', { email: 'x@example.test' }],
      ['no email', { password: GOOD_PASSWORD }],
      ['an unknown field', { email: 'x@example.test', password: GOOD_PASSWORD, mfaEnabled: true }],
      ['an id', { email: 'x@example.test', password: GOOD_PASSWORD, id: uuidv7() }],
      ['a passwordHash', { email: 'x@example.test', password: GOOD_PASSWORD, passwordHash: '$argon2id$x' }],
      ['a non-boolean flag', { email: 'x@example.test', password: GOOD_PASSWORD, isSuperuser: 'yes' }],
      ['a huge email', { email: `${'e'.repeat(10_000)}@example.test`, password: GOOD_PASSWORD }],
      ['a huge name', { email: 'x@example.test', password: GOOD_PASSWORD, name: 'n'.repeat(10_000) }],
      ['an array body', [{ email: 'x@example.test', password: GOOD_PASSWORD }]],
      ['a null body', null],
    ])('answers 400 for %s', async (_label, body) => {
      const response = await t.app.inject({
        method: 'POST',
        url: '/v1/users',
        headers: { authorization: `Bearer ${admin.accessToken}`, 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
      expectProblem(response, 400, 'validation_failed');
      expect(await t.app.container.users.findByEmail('x@example.test')).toBeUndefined();
    });
  });

  describe('GET /v1/users/:id', () => {
    it('answers the user', async () => {
      const u = await createUser(t.app, { name: 'Looked Up' });
      const response = await get(`/v1/users/${u.user.id}`);
      expect(response.statusCode).toBe(200);
      expect(Object.keys(response.json()).sort()).toEqual(USER_FIELDS);
      expect(response.json()).toMatchObject({ id: u.user.id, email: u.email, name: 'Looked Up' });
    });

    it('answers 404 not_found for an unknown id and 400 for a non-uuid', async () => {
      expectProblem(await get(`/v1/users/${uuidv7()}`), 404, 'not_found');
      expectProblem(await get('/v1/users/not-a-uuid'), 400, 'validation_failed');
      expectProblem(await get(`/v1/users/${'1'.repeat(100)}`), 400, 'validation_failed');
      // Past the router's 100-character parameter limit Fastify answers 414 itself (today in its own
      // JSON shape, not problem+json: a platform issue reported separately); never a 500.
      expect((await get(`/v1/users/${'1'.repeat(5000)}`)).statusCode).toBe(414);
      expectProblem(await get("/v1/users/1'%20or%20'1'='1"), 400, 'validation_failed');
    });
  });

  describe('PATCH /v1/users/:id', () => {
    const patch = (id: string, body: unknown, who: SignedIn = admin) =>
      request(t.app, 'PATCH', `/v1/users/${id}`, { token: who.accessToken, body });
    const me = (who: SignedIn) => request(t.app, 'GET', '/v1/users/me', { token: who.accessToken });
    const refresh = (refreshToken: string) =>
      request(t.app, 'POST', '/v1/auth/refresh', { body: { refreshToken } });

    it('renames, and clears the name with null', async () => {
      const u = await createUser(t.app, { name: 'Old' });
      const renamed = await patch(u.user.id, { name: 'New' });
      expect(renamed.statusCode, renamed.body).toBe(200);
      expect(Object.keys(renamed.json()).sort()).toEqual(USER_FIELDS);
      expect(renamed.json()).toMatchObject({
        id: u.user.id,
        name: 'New',
        isActive: true,
        isSuperuser: false,
      });
      expect((await row(u.user.id))?.name).toBe('New');
      const cleared = await patch(u.user.id, { name: null });
      expect(cleared.json().name).toBeNull();
      expect((await row(u.user.id))?.name).toBeNull();
    });

    it('deactivation ends every session at once; login answers invalid_credentials; reactivation lets them in', async () => {
      const u = await createUser(t.app);
      const a = await signIn(t.app, u);
      const b = await signIn(t.app, u);
      // Warm the session cache, so the test proves it is invalidated.
      expect((await me(a)).statusCode).toBe(200);
      expect((await me(b)).statusCode).toBe(200);

      const off = await patch(u.user.id, { isActive: false });
      expect(off.statusCode, off.body).toBe(200);
      expect(off.json().isActive).toBe(false);
      expect((await row(u.user.id))?.isActive).toBe(false);

      expectProblem(await me(a), 401, 'token_invalid');
      expectProblem(await me(b), 401, 'token_invalid');
      expectProblem(await refresh(a.refreshToken), 401, 'token_invalid');
      expectProblem(await login(u.email, u.password), 401, 'invalid_credentials');
      const rows = await t.app.container.db.select().from(sessions).where(eq(sessions.userId, u.user.id));
      expect(rows).toHaveLength(2);
      for (const s of rows) {
        expect(s.revokedAt).toBeInstanceOf(Date);
        expect(s.revokedReason).toBe('deactivated');
      }

      const on = await patch(u.user.id, { isActive: true });
      expect(on.statusCode).toBe(200);
      expect(on.json().isActive).toBe(true);
      const again = await login(u.email, u.password);
      expect(again.statusCode, again.body).toBe(200);
      expect(
        (await request(t.app, 'GET', '/v1/users/me', { token: again.json().accessToken })).statusCode,
      ).toBe(200);
      // The sessions that deactivation ended stay ended.
      expectProblem(await me(b), 401, 'token_invalid');
      expectProblem(await refresh(b.refreshToken), 401, 'token_invalid');
    });

    it('promotion and demotion take effect on the next request of the user’s existing token', async () => {
      const u = await createSignedInUser(t.app);
      // Cached as a regular user first.
      expectProblem(await get('/v1/users?limit=1', u), 403, 'forbidden');

      const up = await patch(u.user.id, { isSuperuser: true });
      expect(up.statusCode).toBe(200);
      expect(up.json().isSuperuser).toBe(true);
      expect((await row(u.user.id))?.isSuperuser).toBe(true);
      expect((await get('/v1/users?limit=1', u)).statusCode).toBe(200);
      expect((await me(u)).json().isSuperuser).toBe(true);

      const down = await patch(u.user.id, { isSuperuser: false });
      expect(down.statusCode).toBe(200);
      expect(down.json().isSuperuser).toBe(false);
      expectProblem(await get('/v1/users?limit=1', u), 403, 'forbidden');
      // Demotion does not sign the user out.
      expect((await me(u)).statusCode).toBe(200);
    });

    it('lets a superuser demote themselves while another active superuser remains', async () => {
      const self = await createSuperuser(t.app);
      expect((await get('/v1/users?limit=1', self)).statusCode).toBe(200);
      const response = await patch(self.user.id, { isSuperuser: false }, self);
      expect(response.statusCode, response.body).toBe(200);
      expectProblem(await get('/v1/users?limit=1', self), 403, 'forbidden');
    });

    it('changes several fields at once', async () => {
      const u = await createUser(t.app, { name: 'Multi' });
      const response = await patch(u.user.id, { name: 'Both', isSuperuser: true, isActive: true });
      expect(response.json()).toMatchObject({ name: 'Both', isSuperuser: true, isActive: true });
      const stored = await row(u.user.id);
      expect(stored).toMatchObject({ name: 'Both', isSuperuser: true, isActive: true });
    });

    it.each([
      ['an empty body', {}],
      ['an unknown field', { name: 'x', email: 'new@example.test' }],
      ['a password', { password: GOOD_PASSWORD }],
      ['emailVerified', { emailVerified: true }],
      ['a string flag', { isActive: 'false' }],
      ['a number flag', { isSuperuser: 1 }],
      ['an empty name', { name: '' }],
      ['a 10,000-character name', { name: 'n'.repeat(10_000) }],
      ['an array', [{ name: 'x' }]],
      ['null', null],
    ])('answers 400 for %s and changes nothing', async (_label, body) => {
      const u = await createUser(t.app, { name: 'Untouched' });
      const before = await row(u.user.id);
      const response = await t.app.inject({
        method: 'PATCH',
        url: `/v1/users/${u.user.id}`,
        headers: { authorization: `Bearer ${admin.accessToken}`, 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
      expectProblem(response, 400, 'validation_failed');
      expect(await row(u.user.id)).toEqual(before);
    });

    it('answers 400 for malformed JSON', async () => {
      const u = await createUser(t.app);
      const response = await t.app.inject({
        method: 'PATCH',
        url: `/v1/users/${u.user.id}`,
        headers: { authorization: `Bearer ${admin.accessToken}`, 'content-type': 'application/json' },
        payload: '{"isActive": fals',
      });
      expectProblem(response, 400, 'validation_failed');
      expect((await row(u.user.id))?.isActive).toBe(true);
    });

    it('answers 404 for an unknown id and 400 for a non-uuid', async () => {
      expectProblem(await patch(uuidv7(), { name: 'x' }), 404, 'not_found');
      expectProblem(await patch('nope', { name: 'x' }), 400, 'validation_failed');
    });
  });

  describe('DELETE /v1/users/:id', () => {
    it('deletes the user (204); their sessions go and their token fails; 404 afterwards', async () => {
      const u = await createSignedInUser(t.app);
      expect((await request(t.app, 'GET', '/v1/users/me', { token: u.accessToken })).statusCode).toBe(200);
      const response = await request(t.app, 'DELETE', `/v1/users/${u.user.id}`, as(admin));
      expect(response.statusCode, response.body).toBe(204);
      expect(response.body).toBe('');
      expect(await row(u.user.id)).toBeUndefined();
      expect(await t.app.container.db.select().from(sessions).where(eq(sessions.userId, u.user.id))).toEqual(
        [],
      );
      expectProblem(
        await request(t.app, 'GET', '/v1/users/me', { token: u.accessToken }),
        401,
        'token_invalid',
      );
      expectProblem(await get(`/v1/users/${u.user.id}`), 404, 'not_found');
      expectProblem(await request(t.app, 'DELETE', `/v1/users/${u.user.id}`, as(admin)), 404, 'not_found');
      expectProblem(await login(u.email, u.password), 401, 'invalid_credentials');
    });

    it('answers 400 for a non-uuid and 404 for an unknown id', async () => {
      expectProblem(await request(t.app, 'DELETE', '/v1/users/xyz', as(admin)), 400, 'validation_failed');
      expectProblem(await request(t.app, 'DELETE', `/v1/users/${uuidv7()}`, as(admin)), 404, 'not_found');
    });

    it('deletes another superuser while one remains; the deleted one’s token stops working', async () => {
      const other = await createSuperuser(t.app);
      expect((await get('/v1/users?limit=1', other)).statusCode).toBe(200);
      expect((await request(t.app, 'DELETE', `/v1/users/${other.user.id}`, as(admin))).statusCode).toBe(204);
      expectProblem(await get('/v1/users?limit=1', other), 401, 'token_invalid');
    });
  });
});

describe('the last active superuser', () => {
  it('cannot be demoted, deactivated or deleted (409 last_superuser); nothing changes', async () => {
    const own = await createTestApp({ env: ENV });
    try {
      const { app } = own;
      const only = await createSuperuser(app);
      const regular = await createSignedInUser(app);
      // An inactive superuser is no administrator and does not count.
      const dormant = await createUser(app, { isSuperuser: true, isActive: false });
      const stored = async () =>
        (await app.container.db.select().from(users).where(eq(users.id, only.user.id)))[0];
      const before = await stored();

      for (const body of [
        { isSuperuser: false },
        { isActive: false },
        { isSuperuser: false, isActive: false },
        { name: 'Renamed', isSuperuser: false },
      ]) {
        const response = await request(app, 'PATCH', `/v1/users/${only.user.id}`, {
          token: only.accessToken,
          body,
        });
        expectProblem(response, 409, 'last_superuser');
      }
      expectProblem(
        await request(app, 'DELETE', `/v1/users/${only.user.id}`, { token: only.accessToken }),
        409,
        'last_superuser',
      );
      expectProblem(
        await request(app, 'DELETE', '/v1/users/me', { token: only.accessToken }),
        409,
        'last_superuser',
      );
      expect(await stored()).toEqual(before);
      const live = await app.container.db.select().from(sessions).where(eq(sessions.userId, only.user.id));
      expect(live.every((s) => s.revokedAt === null)).toBe(true);
      expect((await request(app, 'GET', '/v1/users?limit=1', { token: only.accessToken })).statusCode).toBe(
        200,
      );

      // Changes that keep them a superuser are fine.
      const rename = await request(app, 'PATCH', `/v1/users/${only.user.id}`, {
        token: only.accessToken,
        body: { name: 'Still Admin', isSuperuser: true, isActive: true },
      });
      expect(rename.statusCode, rename.body).toBe(200);

      // The dormant superuser can be demoted or deleted: it was never counted.
      const demoteDormant = await request(app, 'PATCH', `/v1/users/${dormant.user.id}`, {
        token: only.accessToken,
        body: { isSuperuser: false },
      });
      expect(demoteDormant.statusCode).toBe(200);

      // Once a second active superuser exists, the first may step down.
      const promote = await request(app, 'PATCH', `/v1/users/${regular.user.id}`, {
        token: only.accessToken,
        body: { isSuperuser: true },
      });
      expect(promote.statusCode).toBe(200);
      const stepDown = await request(app, 'PATCH', `/v1/users/${only.user.id}`, {
        token: only.accessToken,
        body: { isSuperuser: false },
      });
      expect(stepDown.statusCode, stepDown.body).toBe(200);
      // And now the promoted user is the last one.
      expectProblem(
        await request(app, 'PATCH', `/v1/users/${regular.user.id}`, {
          token: regular.accessToken,
          body: { isActive: false },
        }),
        409,
        'last_superuser',
      );
    } finally {
      await own.close();
    }
  });

  it('reactivating a deactivated superuser restores a second administrator', async () => {
    const own = await createTestApp({ env: ENV });
    try {
      const { app } = own;
      const first = await createSuperuser(app);
      const second = await createUser(app, { isSuperuser: true, isActive: false });
      const patch = (id: string, body: unknown) =>
        request(app, 'PATCH', `/v1/users/${id}`, { token: first.accessToken, body });
      expectProblem(await patch(first.user.id, { isActive: false }), 409, 'last_superuser');
      expect((await patch(second.user.id, { isActive: true })).statusCode).toBe(200);
      const off = await patch(first.user.id, { isActive: false });
      expect(off.statusCode, off.body).toBe(200);
      // Deactivating yourself ends your own sessions too.
      expectProblem(
        await request(app, 'GET', '/v1/users/me', { token: first.accessToken }),
        401,
        'token_invalid',
      );
    } finally {
      await own.close();
    }
  });
});
