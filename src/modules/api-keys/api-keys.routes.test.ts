import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, type Response, request, type TestApp, TestClock } from '../../../test/app.js';
import {
  addMember,
  createSignedInUser,
  createSuperuser,
  createTenant,
  issueApiKey,
  type SignedIn,
  type TestTenant,
} from '../../../test/factories.js';
import { generateApiKey } from '../../domain/api-keys.js';
import { SYSTEM_PERMISSIONS } from '../../domain/permissions.js';
import { SecretHasher } from '../../domain/secrets.js';
import { queryRows } from '../../platform/db.js';

let t: TestApp;
const clock = new TestClock();
beforeAll(async () => {
  t = await createTestApp({ clock });
});
afterAll(async () => t?.close());

interface World {
  tenant: TestTenant;
  owner: SignedIn;
  admin: SignedIn;
  member: SignedIn;
  outsider: SignedIn;
}

async function world(): Promise<World> {
  const [owner, admin, member, outsider] = await Promise.all([
    createSignedInUser(t.app),
    createSignedInUser(t.app),
    createSignedInUser(t.app),
    createSignedInUser(t.app),
  ]);
  const tenant = await createTenant(t.app, owner);
  await addMember(t.app, tenant.id, admin, ['admin']);
  await addMember(t.app, tenant.id, member, ['member']);
  return { tenant, owner, admin, member, outsider };
}

const keysUrl = (tenantId: string, rest = '') => `/v1/tenants/${tenantId}/api-keys${rest}`;
const withKey = (key: string) => ({ authorization: `Bearer ${key}` });
const principalOf = (key: string, headers: Record<string, string> = withKey(key)) =>
  t.app.inject({ method: 'GET', url: '/v1/auth/principal', headers });
const ALL = Object.keys(SYSTEM_PERMISSIONS);

describe('POST /v1/tenants/:tenantId/api-keys', () => {
  it('answers 201 with the key and its secret; each scope holds what the contract says', async () => {
    const w = await world();
    const read = await request(t.app, 'POST', keysUrl(w.tenant.id), {
      token: w.owner.accessToken,
      body: { name: ' CI reader ', scope: 'read' },
    });
    expect(read.statusCode).toBe(201);
    const body = read.json();
    expect(body.key).toMatch(/^tsk_[0-9A-Za-z]{34}$/);
    expect(body.apiKey).toEqual({
      id: expect.any(String),
      tenantId: w.tenant.id,
      name: 'CI reader',
      prefix: body.key.slice(0, 12),
      scope: 'read',
      permissions: ALL.filter((k) => k.endsWith(':read')).sort(),
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
      createdAt: clock.now().toISOString(),
      createdBy: w.owner.user.id,
    });
    const write = await issueApiKey(t.app, w.tenant.id, w.owner, { scope: 'write' });
    expect(write.apiKey.permissions).toEqual(
      ALL.filter(
        (k) => !['tenant:delete', 'roles:manage', 'api_keys:manage'].includes(k) && !k.startsWith('members:'),
      ).sort(),
    );
    const admin = await issueApiKey(t.app, w.tenant.id, w.admin, { scope: 'admin' });
    expect(admin.apiKey.permissions).toEqual(ALL.filter((k) => k !== 'tenant:delete').sort());
    expect(admin.apiKey.createdBy).toBe(w.admin.user.id);
  });

  it('narrows with permissions, and refuses keys outside the scope or the catalogue (400)', async () => {
    const w = await world();
    const narrowed = await issueApiKey(t.app, w.tenant.id, w.owner, {
      scope: 'admin',
      permissions: ['members:read', 'tenant:read', 'members:read'],
    });
    expect(narrowed.apiKey.permissions).toEqual(['members:read', 'tenant:read']);
    for (const body of [
      { name: 'k', scope: 'read', permissions: ['tenant:update'] },
      { name: 'k', scope: 'write', permissions: ['members:invite'] },
      { name: 'k', scope: 'admin', permissions: ['tenant:delete'] },
      { name: 'k', scope: 'admin', permissions: ['ships:launch'] },
      { name: 'k', scope: 'admin', permissions: [] },
      { name: 'k', scope: 'root' },
      { name: '   ', scope: 'read' },
      { name: 'k', scope: 'read', extra: true },
      { name: 'k', scope: 'read', expiresAt: 'tomorrow' },
    ]) {
      const response = await request(t.app, 'POST', keysUrl(w.tenant.id), {
        token: w.owner.accessToken,
        body,
      });
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(response.json().code).toBe('validation_failed');
    }
  });

  it('refuses an expiresAt in the past (400) and keeps one in the future', async () => {
    const w = await world();
    const past = await request(t.app, 'POST', keysUrl(w.tenant.id), {
      token: w.owner.accessToken,
      body: { name: 'k', scope: 'read', expiresAt: new Date(clock.now().getTime() - 1000).toISOString() },
    });
    expect(past.statusCode).toBe(400);
    const future = new Date(clock.now().getTime() + 86_400_000).toISOString();
    const key = await issueApiKey(t.app, w.tenant.id, w.owner, { scope: 'read', expiresAt: future });
    expect(key.apiKey.expiresAt).toBe(future);
  });

  it('never gives a key more than its creator holds (403 escalation)', async () => {
    const w = await world();
    const role = await request(t.app, 'POST', `/v1/tenants/${w.tenant.id}/roles`, {
      token: w.owner.accessToken,
      body: { name: 'Key maker', permissions: ['api_keys:manage', 'tenant:read'] },
    });
    const maker = await createSignedInUser(t.app);
    await addMember(t.app, w.tenant.id, maker, [role.json().id]);
    const wide = await request(t.app, 'POST', keysUrl(w.tenant.id), {
      token: maker.accessToken,
      body: { name: 'k', scope: 'read' },
    });
    expect(wide.statusCode).toBe(403);
    expect(wide.json().code).toBe('escalation');
    const own = await issueApiKey(t.app, w.tenant.id, maker, { scope: 'read', permissions: ['tenant:read'] });
    expect(own.apiKey.permissions).toEqual(['tenant:read']);
    // A key making keys is held to its own permissions too.
    const keyMaker = await issueApiKey(t.app, w.tenant.id, w.owner, {
      scope: 'admin',
      permissions: ['api_keys:manage', 'tenant:read'],
    });
    const fromKey = await t.app.inject({
      method: 'POST',
      url: keysUrl(w.tenant.id),
      headers: withKey(keyMaker.key),
      payload: { name: 'k', scope: 'read' },
    });
    expect(fromKey.statusCode).toBe(403);
    expect(fromKey.json().code).toBe('escalation');
    const child = await t.app.inject({
      method: 'POST',
      url: keysUrl(w.tenant.id),
      headers: withKey(keyMaker.key),
      payload: { name: 'k', scope: 'read', permissions: ['tenant:read'] },
    });
    expect(child.statusCode).toBe(201);
    expect(child.json().apiKey.createdBy).toBeNull();
  });

  it('answers 403 to a member without api_keys:manage and 404 to an outsider', async () => {
    const w = await world();
    const body = { name: 'k', scope: 'read' };
    const asMember = await request(t.app, 'POST', keysUrl(w.tenant.id), {
      token: w.member.accessToken,
      body,
    });
    expect(asMember.statusCode).toBe(403);
    const asOutsider = await request(t.app, 'POST', keysUrl(w.tenant.id), {
      token: w.outsider.accessToken,
      body,
    });
    expect(asOutsider.statusCode).toBe(404);
    expect(asOutsider.body).not.toContain(w.tenant.id);
    expect((await request(t.app, 'POST', keysUrl(w.tenant.id), { body })).statusCode).toBe(401);
  });
});

describe('GET /v1/tenants/:tenantId/api-keys and /:id', () => {
  it('lists newest first with cursors, gets one, and never shows the secret or its hash', async () => {
    const w = await world();
    const keys = [];
    for (let i = 0; i < 3; i++)
      keys.push(await issueApiKey(t.app, w.tenant.id, w.owner, { name: `key ${i}` }));
    const page1 = await request(t.app, 'GET', `${keysUrl(w.tenant.id)}?limit=2`, {
      token: w.member.accessToken,
    });
    expect(page1.statusCode).toBe(403); // members lack api_keys:read
    const first = await request(t.app, 'GET', `${keysUrl(w.tenant.id)}?limit=2`, {
      token: w.admin.accessToken,
    });
    expect(first.statusCode).toBe(200);
    expect(first.json().data.map((k: { name: string }) => k.name)).toEqual(['key 2', 'key 1']);
    const second = await request(
      t.app,
      'GET',
      `${keysUrl(w.tenant.id)}?limit=2&cursor=${first.json().nextCursor}`,
      { token: w.admin.accessToken },
    );
    expect(second.json()).toEqual({ data: [keys[0]!.apiKey], nextCursor: null });
    const search = await request(t.app, 'GET', `${keysUrl(w.tenant.id)}?q=key%201`, {
      token: w.owner.accessToken,
    });
    expect(search.json().data).toEqual([keys[1]!.apiKey]);
    const one = await request(t.app, 'GET', keysUrl(w.tenant.id, `/${keys[1]!.apiKey.id}`), {
      token: w.owner.accessToken,
    });
    expect(one.json()).toEqual(keys[1]!.apiKey);
    const hasher = new SecretHasher(t.config.secretKey, 'api-keys');
    for (const response of [first, second, search, one]) {
      for (const { key } of keys) {
        expect(response.body).not.toContain(key);
        expect(response.body).not.toContain(key.slice(12));
        expect(response.body).not.toContain(hasher.hash(key));
      }
      expect(response.body).not.toMatch(/hash/i);
    }
  });

  it("answers 404 for an unknown id and for another tenant's key", async () => {
    const w = await world();
    const other = await world();
    const theirs = await issueApiKey(t.app, other.tenant.id, other.owner);
    for (const id of [theirs.apiKey.id, '01890000-0000-7000-8000-000000000000']) {
      const response = await request(t.app, 'GET', keysUrl(w.tenant.id, `/${id}`), {
        token: w.owner.accessToken,
      });
      expect(response.statusCode).toBe(404);
    }
    expect(
      (await request(t.app, 'GET', keysUrl(w.tenant.id, '/nope'), { token: w.owner.accessToken })).statusCode,
    ).toBe(400);
  });
});

describe('authentication with a key', () => {
  it('accepts Authorization: Bearer and X-API-Key, and /v1/auth/principal describes the key', async () => {
    const w = await world();
    const { apiKey, key } = await issueApiKey(t.app, w.tenant.id, w.owner, {
      scope: 'admin',
      permissions: ['tenant:read', 'members:read'],
    });
    for (const headers of [withKey(key), { 'x-api-key': key }]) {
      const response = await principalOf(key, headers);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({
        type: 'api_key',
        apiKey: { id: apiKey.id, tenantId: w.tenant.id, scope: 'admin' },
        tenantId: w.tenant.id,
        permissions: ['members:read', 'tenant:read'],
      });
    }
    // Answered from the key cache, it is the same view the key's owner reads from the table.
    const stored = await request(t.app, 'GET', `/v1/tenants/${w.tenant.id}/api-keys/${apiKey.id}`, {
      token: w.owner.accessToken,
    });
    expect((await principalOf(key)).json().apiKey).toEqual(stored.json());
    const tenant = await request(t.app, 'GET', `/v1/tenants/${w.tenant.id}`, {
      headers: { 'x-api-key': key },
    });
    expect(tenant.statusCode).toBe(200);
    const roles = await request(t.app, 'GET', `/v1/tenants/${w.tenant.id}/roles`, { headers: withKey(key) });
    expect(roles.statusCode).toBe(403);
  });

  it('answers malformed, unknown, revoked and expired keys with the same 401', async () => {
    const w = await world();
    const revoked = await issueApiKey(t.app, w.tenant.id, w.owner);
    await request(t.app, 'DELETE', keysUrl(w.tenant.id, `/${revoked.apiKey.id}`), {
      token: w.owner.accessToken,
    });
    const expiring = await issueApiKey(t.app, w.tenant.id, w.owner, {
      expiresAt: new Date(clock.now().getTime() + 120_000).toISOString(),
    });
    expect((await principalOf(expiring.key)).statusCode).toBe(200);
    clock.advance(121);
    const bad = [
      'tsk_short',
      `${generateApiKey().slice(0, -1)}x`,
      generateApiKey(),
      revoked.key,
      expiring.key,
    ];
    const answers: Response[] = [];
    for (const key of bad) {
      answers.push(await principalOf(key));
      answers.push(await principalOf(key, { 'x-api-key': key }));
    }
    for (const response of answers) {
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    expect(new Set(answers.map((r) => JSON.stringify({ ...r.json(), instance: undefined }))).size).toBe(1);
  });

  it('refuses both headers at once', async () => {
    const w = await world();
    const { key } = await issueApiKey(t.app, w.tenant.id, w.owner);
    const response = await principalOf(key, {
      'x-api-key': key,
      authorization: `Bearer ${w.owner.accessToken}`,
    });
    expect(response.statusCode).toBe(401);
  });

  it("acts only inside its tenant: another tenant's routes 404, platform and user routes 403", async () => {
    const w = await world();
    const other = await world();
    const { key } = await issueApiKey(t.app, w.tenant.id, w.owner);
    await createSuperuser(t.app);
    const elsewhere = await request(t.app, 'GET', `/v1/tenants/${other.tenant.id}/members`, {
      headers: withKey(key),
    });
    expect(elsewhere.statusCode).toBe(404);
    expect(elsewhere.body).not.toContain(other.tenant.id);
    for (const [method, url, body] of [
      ['GET', '/v1/tenants', undefined],
      ['POST', '/v1/tenants', { name: 'By a key' }],
      ['GET', '/v1/users/me', undefined],
      ['GET', '/v1/users/me/tenants', undefined],
      ['GET', '/v1/users', undefined],
      ['GET', '/v1/auth/sessions', undefined],
      ['POST', '/v1/auth/logout', {}],
      ['POST', '/v1/permissions', { key: 'keys:made', description: '' }],
    ] as const) {
      const response = await request(t.app, method, url, { headers: withKey(key), body });
      expect(response.statusCode, `${method} ${url}`).toBe(403);
      expect(response.json().code).toBe('forbidden');
    }
    expect((await request(t.app, 'GET', '/v1/permissions', { headers: withKey(key) })).statusCode).toBe(200);
  });

  it('POST /v1/authz/check: a key checks itself, in its own tenant only', async () => {
    const w = await world();
    const other = await world();
    const { key } = await issueApiKey(t.app, w.tenant.id, w.owner, { scope: 'read' });
    const check = (body: object) =>
      request(t.app, 'POST', '/v1/authz/check', { headers: withKey(key), body });
    expect((await check({ tenantId: w.tenant.id, permission: 'tenant:read' })).json()).toEqual({
      allowed: true,
    });
    expect((await check({ tenantId: w.tenant.id, permission: 'tenant:update' })).json()).toEqual({
      allowed: false,
    });
    const aboutUser = await check({
      tenantId: w.tenant.id,
      permission: 'tenant:read',
      userId: w.owner.user.id,
    });
    expect(aboutUser.statusCode).toBe(403);
    const elsewhere = await check({ tenantId: other.tenant.id, permission: 'tenant:read' });
    expect(elsewhere.statusCode).toBe(404);
    const batch = await request(t.app, 'POST', '/v1/authz/check-batch', {
      headers: withKey(key),
      body: {
        checks: [
          { tenantId: w.tenant.id, permission: 'audit:read' },
          { tenantId: w.tenant.id, permission: 'api_keys:manage' },
        ],
      },
    });
    expect(batch.json()).toEqual({ results: [{ allowed: true }, { allowed: false }] });
  });

  it("the key is the tenant's: it keeps working when its creator leaves the tenant or is deleted", async () => {
    const w = await world();
    const { apiKey, key } = await issueApiKey(t.app, w.tenant.id, w.admin);
    const removed = await request(t.app, 'DELETE', `/v1/tenants/${w.tenant.id}/members/${w.admin.user.id}`, {
      token: w.owner.accessToken,
    });
    expect(removed.statusCode).toBe(204);
    expect(
      (await request(t.app, 'GET', `/v1/tenants/${w.tenant.id}`, { headers: withKey(key) })).statusCode,
    ).toBe(200);
    const deleted = await request(t.app, 'DELETE', '/v1/users/me', { token: w.admin.accessToken });
    expect(deleted.statusCode).toBe(204);
    expect(
      (await request(t.app, 'GET', `/v1/tenants/${w.tenant.id}`, { headers: withKey(key) })).statusCode,
    ).toBe(200);
    const view = await request(t.app, 'GET', keysUrl(w.tenant.id, `/${apiKey.id}`), {
      token: w.owner.accessToken,
    });
    expect(view.json().createdBy).toBeNull();
  });

  it('deleting the tenant ends its keys at once', async () => {
    const w = await world();
    const { key } = await issueApiKey(t.app, w.tenant.id, w.owner);
    expect((await principalOf(key)).statusCode).toBe(200);
    await request(t.app, 'DELETE', `/v1/tenants/${w.tenant.id}`, { token: w.owner.accessToken });
    expect((await principalOf(key)).statusCode).toBe(401);
  });
});

describe('DELETE /v1/tenants/:tenantId/api-keys/:id', () => {
  it('revokes: the key fails on the very next request; revoking again is 204; unknown is 404', async () => {
    const w = await world();
    const { apiKey, key } = await issueApiKey(t.app, w.tenant.id, w.owner);
    expect((await principalOf(key)).statusCode).toBe(200); // cached now
    const url = keysUrl(w.tenant.id, `/${apiKey.id}`);
    expect((await request(t.app, 'DELETE', url, { token: w.member.accessToken })).statusCode).toBe(403);
    expect((await request(t.app, 'DELETE', url, { token: w.owner.accessToken })).statusCode).toBe(204);
    expect((await principalOf(key)).statusCode).toBe(401);
    const view = await request(t.app, 'GET', url, { token: w.owner.accessToken });
    expect(view.json().revokedAt).toBe(clock.now().toISOString());
    expect((await request(t.app, 'DELETE', url, { token: w.owner.accessToken })).statusCode).toBe(204);
    const unknown = keysUrl(w.tenant.id, '/01890000-0000-7000-8000-000000000000');
    expect((await request(t.app, 'DELETE', unknown, { token: w.owner.accessToken })).statusCode).toBe(404);
  });

  it('a key can revoke itself', async () => {
    const w = await world();
    const { apiKey, key } = await issueApiKey(t.app, w.tenant.id, w.owner);
    const response = await request(t.app, 'DELETE', keysUrl(w.tenant.id, `/${apiKey.id}`), {
      headers: withKey(key),
    });
    expect(response.statusCode).toBe(204);
    expect((await principalOf(key)).statusCode).toBe(401);
  });
});

describe('POST /v1/tenants/:tenantId/api-keys/:id/rotate', () => {
  it('answers a new secret for the same key; the old secret fails at once', async () => {
    const w = await world();
    const { apiKey, key } = await issueApiKey(t.app, w.tenant.id, w.owner, { scope: 'read' });
    expect((await principalOf(key)).statusCode).toBe(200);
    const rotated = await request(t.app, 'POST', keysUrl(w.tenant.id, `/${apiKey.id}/rotate`), {
      token: w.admin.accessToken,
    });
    expect(rotated.statusCode).toBe(200);
    const body = rotated.json();
    expect(body.key).not.toBe(key);
    expect(body.apiKey).toEqual({ ...apiKey, prefix: body.key.slice(0, 12), lastUsedAt: expect.any(String) });
    expect((await principalOf(key)).statusCode).toBe(401);
    expect((await principalOf(body.key)).json().apiKey.id).toBe(apiKey.id);
  });

  it('refuses a revoked or expired key (409), an unknown one (404), and escalation (403)', async () => {
    const w = await world();
    const revoked = await issueApiKey(t.app, w.tenant.id, w.owner);
    await request(t.app, 'DELETE', keysUrl(w.tenant.id, `/${revoked.apiKey.id}`), {
      token: w.owner.accessToken,
    });
    const rotate = (id: string, token = w.owner.accessToken) =>
      request(t.app, 'POST', keysUrl(w.tenant.id, `/${id}/rotate`), { token });
    const gone = await rotate(revoked.apiKey.id);
    expect([gone.statusCode, gone.json().code]).toEqual([409, 'api_key_revoked']);
    const expiring = await issueApiKey(t.app, w.tenant.id, w.owner, {
      expiresAt: new Date(clock.now().getTime() + 60_000).toISOString(),
    });
    clock.advance(61);
    const expired = await rotate(expiring.apiKey.id);
    expect([expired.statusCode, expired.json().code]).toEqual([409, 'api_key_expired']);
    expect((await rotate('01890000-0000-7000-8000-000000000000')).statusCode).toBe(404);
    // A new secret is as good as a new key: someone holding api_keys:manage but less than the key
    // holds cannot rotate it (and so obtain it).
    const role = await request(t.app, 'POST', `/v1/tenants/${w.tenant.id}/roles`, {
      token: w.owner.accessToken,
      body: { name: 'Rotator', permissions: ['api_keys:manage'] },
    });
    const rotator = await createSignedInUser(t.app);
    await addMember(t.app, w.tenant.id, rotator, [role.json().id]);
    const strong = await issueApiKey(t.app, w.tenant.id, w.owner);
    const escalation = await rotate(strong.apiKey.id, rotator.accessToken);
    expect([escalation.statusCode, escalation.json().code]).toEqual([403, 'escalation']);
    expect((await principalOf(strong.key)).statusCode).toBe(200);
  });
});

describe('storage and cost', () => {
  it('a dump of api_keys holds no key secret', async () => {
    const w = await world();
    const issued = [];
    for (const scope of ['read', 'write', 'admin'])
      issued.push(await issueApiKey(t.app, w.tenant.id, w.owner, { scope }));
    const rotated = await request(t.app, 'POST', keysUrl(w.tenant.id, `/${issued[0]!.apiKey.id}/rotate`), {
      token: w.owner.accessToken,
    });
    const secrets = [...issued.map((k) => k.key), rotated.json().key as string];
    const dump = JSON.stringify([
      ...(await queryRows(t.app.container.db, sql`select * from api_keys`)),
      ...(await queryRows(t.app.container.db, sql`select * from api_key_permissions`)),
    ]);
    expect(dump).toContain(w.tenant.id);
    for (const secret of secrets) {
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(secret.slice(12)); // the part not shown as prefix
      expect(dump).not.toContain(secret.slice(4, 4 + 28));
    }
  });

  it('a cached key costs no query per request; last_used_at is written at most once a minute', async () => {
    const w = await world();
    const { apiKey, key } = await issueApiKey(t.app, w.tenant.id, w.owner, { scope: 'read' });
    const check = () =>
      request(t.app, 'POST', '/v1/authz/check', {
        headers: withKey(key),
        body: { tenantId: w.tenant.id, permission: 'tenant:read' },
      });
    expect((await check()).json()).toEqual({ allowed: true }); // loads the key, writes last_used_at
    const lastUsed = async () =>
      (
        await request(t.app, 'GET', keysUrl(w.tenant.id, `/${apiKey.id}`), { token: w.owner.accessToken })
      ).json().lastUsedAt;
    const first = await lastUsed();
    expect(first).toBe(clock.now().toISOString());
    const { db, mailSender } = t.app.container;
    // The mail outbox's poll shares the database handle; it is no part of a request.
    const noPoll = vi.spyOn(mailSender, 'runOnce').mockResolvedValue(0);
    const spies = [
      vi.spyOn(db, 'select'),
      vi.spyOn(db, 'execute'),
      vi.spyOn(db, 'update'),
      vi.spyOn(db, 'transaction'),
    ];
    try {
      for (let i = 0; i < 20; i++) {
        clock.advance(2);
        expect((await check()).json()).toEqual({ allowed: true });
      }
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of spies) spy.mockRestore();
      noPoll.mockRestore();
    }
    expect(await lastUsed()).toBe(first);
    clock.advance(21); // 61 s after the first use
    await check();
    expect(await lastUsed()).toBe(clock.now().toISOString());
  });

  it("the key's own view follows last_used_at from one minute to the next", async () => {
    const w = await world();
    const { key } = await issueApiKey(t.app, w.tenant.id, w.owner, { scope: 'read' });
    const own = async () => (await principalOf(key)).json().apiKey.lastUsedAt;
    const first = await own();
    expect(first).toBe(clock.now().toISOString());
    clock.advance(30);
    expect(await own()).toBe(first);
    clock.advance(31);
    expect(await own()).toBe(clock.now().toISOString());
  });
});
