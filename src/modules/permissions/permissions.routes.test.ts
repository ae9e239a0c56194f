import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, request, type TestApp } from '../../../test/app.js';
import {
  createSignedInUser,
  createSuperuser,
  type SignedIn,
  seedMember,
  seedTenant,
} from '../../../test/factories.js';
import { permissions as permissionsTable, rolePermissions } from '../../db/schema/index.js';
import { SYSTEM_PERMISSIONS } from '../../domain/permissions.js';

let t: TestApp;
let admin: SignedIn;
let user: SignedIn;
beforeAll(async () => {
  t = await createTestApp();
  admin = await createSuperuser(t.app);
  user = await createSignedInUser(t.app);
});
afterAll(async () => t?.close());

type Permission = { key: string; description: string; system: boolean };

async function listAll(token: string): Promise<Permission[]> {
  const all: Permission[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `?limit=100&cursor=${cursor}` : '?limit=100';
    const response = await request(t.app, 'GET', `/v1/permissions${query}`, { token });
    expect(response.statusCode).toBe(200);
    const page = response.json() as { data: Permission[]; nextCursor: string | null };
    all.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

const create = (body: unknown, token = admin.accessToken) =>
  request(t.app, 'POST', '/v1/permissions', { token, body });

describe('the seeded catalogue', () => {
  it('the migration created exactly the 12 system keys, all with system=true', async () => {
    const rows = await t.app.container.db.select().from(permissionsTable);
    const system = rows.filter((r) => r.system);
    expect(system.map((r) => r.key).sort()).toEqual(Object.keys(SYSTEM_PERMISSIONS).sort());
    expect(system).toHaveLength(12);
    for (const row of system) expect(row.description).toBe(SYSTEM_PERMISSIONS[row.key]);
  });
});

describe('GET /v1/permissions', () => {
  it('any signed-in user reads the catalogue, sorted by key', async () => {
    const all = await listAll(user.accessToken);
    const keys = all.map((p) => p.key);
    expect(keys).toEqual([...keys].sort());
    for (const key of Object.keys(SYSTEM_PERMISSIONS)) {
      expect(all).toContainEqual({ key, description: SYSTEM_PERMISSIONS[key], system: true });
    }
  });

  it('pages by key with an opaque cursor, and searches with q', async () => {
    const first = await request(t.app, 'GET', '/v1/permissions?limit=5', { token: user.accessToken });
    const page1 = first.json() as { data: Permission[]; nextCursor: string };
    expect(page1.data).toHaveLength(5);
    expect(page1.nextCursor).toEqual(expect.any(String));
    const second = await request(t.app, 'GET', `/v1/permissions?limit=5&cursor=${page1.nextCursor}`, {
      token: user.accessToken,
    });
    const page2 = second.json() as { data: Permission[] };
    expect(page2.data[0]!.key > page1.data[4]!.key).toBe(true);

    const search = await request(t.app, 'GET', '/v1/permissions?q=api_keys', { token: user.accessToken });
    expect(search.json().data.map((p: Permission) => p.key)).toEqual(['api_keys:manage', 'api_keys:read']);
  });

  it('refuses a forged cursor (400) and anonymous callers (401)', async () => {
    const forged = await request(t.app, 'GET', '/v1/permissions?cursor=bm9wZQ', { token: user.accessToken });
    expect(forged.statusCode).toBe(400);
    expect(forged.json().code).toBe('validation_failed');
    expect((await request(t.app, 'GET', '/v1/permissions')).statusCode).toBe(401);
  });

  it('GET /:key answers one permission, 404 for an unknown key, 400 for a malformed one', async () => {
    const one = await request(t.app, 'GET', '/v1/permissions/roles:read', { token: user.accessToken });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toEqual({
      key: 'roles:read',
      description: SYSTEM_PERMISSIONS['roles:read'],
      system: true,
    });
    const unknown = await request(t.app, 'GET', '/v1/permissions/nothing:here', { token: user.accessToken });
    expect(unknown.statusCode).toBe(404);
    const malformed = await request(t.app, 'GET', '/v1/permissions/NotAKey', { token: user.accessToken });
    expect(malformed.statusCode).toBe(400);
  });
});

describe('POST /v1/permissions', () => {
  it('a superuser adds an application permission (201), listed with system=false', async () => {
    const response = await create({ key: 'invoices:approve', description: 'Approve invoices' });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toEqual({
      key: 'invoices:approve',
      description: 'Approve invoices',
      system: false,
    });
    expect(await listAll(user.accessToken)).toContainEqual(response.json());
  });

  it('a duplicate key is a 409 conflict, a system key too', async () => {
    await create({ key: 'reports:export', description: '' });
    const again = await create({ key: 'reports:export', description: 'again' });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('conflict');
    const system = await create({ key: 'tenant:read', description: 'mine now' });
    expect(system.statusCode).toBe(409);
  });

  it.each([
    'Invoices:approve',
    'invoices',
    'invoices:',
    ':approve',
    'invoices approve',
    'invoices:Approve',
    '1nvoices:approve',
    'invoices:approve:',
  ])('a malformed key %j is a 400 naming /key', async (key) => {
    const response = await create({ key, description: '' });
    expect(response.statusCode).toBe(400);
    expect(response.json().errors).toEqual([expect.objectContaining({ path: '/key' })]);
  });

  it('refuses unknown fields and a missing description (400)', async () => {
    expect((await create({ key: 'a:b', description: '', system: true })).statusCode).toBe(400);
    expect((await create({ key: 'a:c' })).statusCode).toBe(400);
  });

  it('is for superusers only (403), and needs authentication (401)', async () => {
    const response = await create({ key: 'sneaky:perm', description: '' }, user.accessToken);
    expect(response.statusCode).toBe(403);
    expect(
      (await request(t.app, 'POST', '/v1/permissions', { body: { key: 'x:y', description: '' } })).statusCode,
    ).toBe(401);
    expect(
      (await request(t.app, 'GET', '/v1/permissions/sneaky:perm', { token: user.accessToken })).statusCode,
    ).toBe(404);
  });
});

describe('PATCH /v1/permissions/:key', () => {
  it('a superuser changes the description of an application permission', async () => {
    await create({ key: 'docs:publish', description: 'old' });
    const response = await request(t.app, 'PATCH', '/v1/permissions/docs:publish', {
      token: admin.accessToken,
      body: { description: 'Publish documents' },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ key: 'docs:publish', description: 'Publish documents', system: false });
  });

  it('system keys are fixed (409), unknown keys 404, non-superusers 403, bad bodies 400', async () => {
    const system = await request(t.app, 'PATCH', '/v1/permissions/tenant:delete', {
      token: admin.accessToken,
      body: { description: 'x' },
    });
    expect(system.statusCode).toBe(409);
    expect(system.json().code).toBe('system_permission');
    const unknown = await request(t.app, 'PATCH', '/v1/permissions/no:such', {
      token: admin.accessToken,
      body: { description: 'x' },
    });
    expect(unknown.statusCode).toBe(404);
    const forbidden = await request(t.app, 'PATCH', '/v1/permissions/docs:publish', {
      token: user.accessToken,
      body: { description: 'x' },
    });
    expect(forbidden.statusCode).toBe(403);
    const bad = await request(t.app, 'PATCH', '/v1/permissions/docs:publish', {
      token: admin.accessToken,
      body: { key: 'docs:other' },
    });
    expect(bad.statusCode).toBe(400);
  });
});

describe('DELETE /v1/permissions/:key', () => {
  it('removes an application key from the catalogue and from every role holding it', async () => {
    await create({ key: 'ledger:close', description: '' });
    const owner = await createSignedInUser(t.app);
    const world = await seedTenant(t.app, owner);
    const role = await request(t.app, 'POST', `/v1/tenants/${world.tenantId}/roles`, {
      token: owner.accessToken,
      body: { name: 'Closer', permissions: ['ledger:close', 'tenant:read'] },
    });
    expect(role.statusCode).toBe(201);

    const response = await request(t.app, 'DELETE', '/v1/permissions/ledger:close', {
      token: admin.accessToken,
    });
    expect(response.statusCode).toBe(204);
    expect(
      (await request(t.app, 'GET', '/v1/permissions/ledger:close', { token: user.accessToken })).statusCode,
    ).toBe(404);
    const links = await t.app.container.db.select().from(rolePermissions);
    expect(links.some((l) => l.permissionKey === 'ledger:close')).toBe(false);
    const after = await request(t.app, 'GET', `/v1/tenants/${world.tenantId}/roles/${role.json().id}`, {
      token: owner.accessToken,
    });
    expect(after.json().permissions).toEqual(['tenant:read']);
  });

  it('system keys cannot be removed (409), unknown keys 404, non-superusers 403', async () => {
    const system = await request(t.app, 'DELETE', '/v1/permissions/roles:manage', {
      token: admin.accessToken,
    });
    expect(system.statusCode).toBe(409);
    expect(system.json().code).toBe('system_permission');
    expect(
      (await request(t.app, 'DELETE', '/v1/permissions/no:such', { token: admin.accessToken })).statusCode,
    ).toBe(404);
    await create({ key: 'keep:me', description: '' });
    expect(
      (await request(t.app, 'DELETE', '/v1/permissions/keep:me', { token: user.accessToken })).statusCode,
    ).toBe(403);
    expect(
      (await request(t.app, 'GET', '/v1/permissions/keep:me', { token: user.accessToken })).statusCode,
    ).toBe(200);
  });

  it('owner and admin hold a new key by rule, and lose it when it goes', async () => {
    const owner = await createSignedInUser(t.app);
    const adminUser = await createSignedInUser(t.app);
    const world = await seedTenant(t.app, owner);
    await seedMember(t.app, world.tenantId, adminUser.user.id, [world.roles.admin]);
    const ownerRole = () =>
      request(t.app, 'GET', `/v1/tenants/${world.tenantId}/roles/${world.roles.owner}`, {
        token: owner.accessToken,
      });
    expect((await ownerRole()).json().permissions).not.toContain('boats:sail');
    await create({ key: 'boats:sail', description: '' });
    expect((await ownerRole()).json().permissions).toContain('boats:sail');
    const adminRole = await request(
      t.app,
      'GET',
      `/v1/tenants/${world.tenantId}/roles/${world.roles.admin}`,
      {
        token: owner.accessToken,
      },
    );
    expect(adminRole.json().permissions).toContain('boats:sail');
    expect(adminRole.json().permissions).not.toContain('tenant:delete');
    await request(t.app, 'DELETE', '/v1/permissions/boats:sail', { token: admin.accessToken });
    expect((await ownerRole()).json().permissions).not.toContain('boats:sail');
  });
});
