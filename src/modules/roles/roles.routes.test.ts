import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, request, type TestApp } from '../../../test/app.js';
import {
  createSignedInUser,
  createSuperuser,
  type SeededTenant,
  type SignedIn,
  seedMember,
  seedTenant,
} from '../../../test/factories.js';
import { rolePermissions, roles as rolesTable } from '../../db/schema/index.js';
import { ConflictError } from '../../domain/errors.js';
import { SYSTEM_PERMISSIONS } from '../../domain/permissions.js';
import * as repo from './roles.repo.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t?.close());

type Role = {
  id: string;
  tenantId: string;
  name: string;
  description: string;
  builtIn: boolean;
  permissions: string[];
  createdAt: string;
  updatedAt: string;
};

interface World extends SeededTenant {
  owner: SignedIn;
  admin: SignedIn;
  member: SignedIn;
  outsider: SignedIn;
}

/** A tenant with an owner, an admin and a plain member, and a signed-in user outside it. */
async function world(): Promise<World> {
  const [owner, admin, member, outsider] = await Promise.all([
    createSignedInUser(t.app),
    createSignedInUser(t.app),
    createSignedInUser(t.app),
    createSignedInUser(t.app),
  ]);
  const seeded = await seedTenant(t.app, owner);
  await seedMember(t.app, seeded.tenantId, admin.user.id, [seeded.roles.admin]);
  await seedMember(t.app, seeded.tenantId, member.user.id, [seeded.roles.member]);
  return { ...seeded, owner, admin, member, outsider };
}

const url = (w: { tenantId: string }, rest = '') => `/v1/tenants/${w.tenantId}/roles${rest}`;

async function createRole(w: World, body: Record<string, unknown>, who: SignedIn = w.owner): Promise<Role> {
  const response = await request(t.app, 'POST', url(w), { token: who.accessToken, body });
  if (response.statusCode !== 201)
    throw new Error(`role creation failed: ${response.statusCode} ${response.body}`);
  return response.json() as Role;
}

/** A signed-in member holding only a new custom role with `permissions`. */
async function customMember(w: World, permissions: string[]): Promise<{ user: SignedIn; role: Role }> {
  const role = await createRole(w, { name: `custom-${Math.random().toString(36).slice(2)}`, permissions });
  const user = await createSignedInUser(t.app);
  await seedMember(t.app, w.tenantId, user.user.id, [role.id]);
  return { user, role };
}

const ALL_SYSTEM = Object.keys(SYSTEM_PERMISSIONS).sort();

describe('GET /v1/tenants/:tenantId/roles', () => {
  it('lists the built-in roles with their permissions by rule, newest first', async () => {
    const w = await world();
    const custom = await createRole(w, { name: 'Billing', permissions: ['tenant:read'] });
    const response = await request(t.app, 'GET', url(w), { token: w.member.accessToken });
    expect(response.statusCode).toBe(200);
    const { data, nextCursor } = response.json() as { data: Role[]; nextCursor: string | null };
    expect(nextCursor).toBeNull();
    expect(data[0]).toEqual(custom);
    const byName = Object.fromEntries(data.map((r) => [r.name, r]));
    expect(byName.owner!.permissions).toEqual(ALL_SYSTEM);
    expect(byName.owner!.builtIn).toBe(true);
    expect(byName.admin!.permissions).toEqual(ALL_SYSTEM.filter((k) => k !== 'tenant:delete'));
    expect(byName.member!.permissions).toEqual(['members:read', 'roles:read', 'tenant:read']);
    expect(byName.Billing!.builtIn).toBe(false);
    expect(data.every((r) => r.tenantId === w.tenantId)).toBe(true);
  });

  it('pages with limit and cursor, and searches names with q', async () => {
    const w = await world();
    await createRole(w, { name: 'Auditor', permissions: ['audit:read'] });
    const first = await request(t.app, 'GET', url(w, '?limit=2'), { token: w.owner.accessToken });
    const page1 = first.json() as { data: Role[]; nextCursor: string };
    expect(page1.data.map((r) => r.name)).toHaveLength(2);
    const second = await request(t.app, 'GET', url(w, `?limit=2&cursor=${page1.nextCursor}`), {
      token: w.owner.accessToken,
    });
    const page2 = second.json() as { data: Role[]; nextCursor: string | null };
    expect(page2.data).toHaveLength(2);
    expect(page2.nextCursor).toBeNull();
    const names = [...page1.data, ...page2.data].map((r) => r.name).sort();
    expect(names).toEqual(['Auditor', 'admin', 'member', 'owner'].sort());
    const search = await request(t.app, 'GET', url(w, '?q=AUDIT'), { token: w.owner.accessToken });
    expect(search.json().data.map((r: Role) => r.name)).toEqual(['Auditor']);
  });

  it('needs roles:read (403), membership (404), authentication (401) and a uuid (400)', async () => {
    const w = await world();
    const { user } = await customMember(w, ['tenant:read']);
    const forbidden = await request(t.app, 'GET', url(w), { token: user.accessToken });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().detail).toContain('roles:read');
    const outsider = await request(t.app, 'GET', url(w), { token: w.outsider.accessToken });
    expect(outsider.statusCode).toBe(404);
    expect(outsider.body).not.toContain(w.tenantId);
    expect((await request(t.app, 'GET', url(w))).statusCode).toBe(401);
    expect(
      (await request(t.app, 'GET', '/v1/tenants/nope/roles', { token: w.owner.accessToken })).statusCode,
    ).toBe(400);
    const unknown = `/v1/tenants/${crypto.randomUUID()}/roles`;
    expect((await request(t.app, 'GET', unknown, { token: w.owner.accessToken })).statusCode).toBe(404);
  });

  it('a superuser reads any tenant’s roles without being a member', async () => {
    const w = await world();
    const root = await createSuperuser(t.app);
    const response = await request(t.app, 'GET', url(w), { token: root.accessToken });
    expect(response.statusCode).toBe(200);
    expect(response.json().data).toHaveLength(3);
  });
});

describe('GET /v1/tenants/:tenantId/roles/:roleId', () => {
  it('answers one role; another tenant’s role id is a 404', async () => {
    const w = await world();
    const other = await world();
    const response = await request(t.app, 'GET', url(w, `/${w.roles.admin}`), {
      token: w.member.accessToken,
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      id: w.roles.admin,
      name: 'admin',
      builtIn: true,
      description: '',
    });
    const foreign = await createRole(other, { name: 'Theirs', permissions: [] });
    for (const id of [foreign.id, other.roles.owner, crypto.randomUUID()]) {
      const cross = await request(t.app, 'GET', url(w, `/${id}`), { token: w.owner.accessToken });
      expect(cross.statusCode).toBe(404);
      expect(cross.body).not.toContain(id);
    }
    expect((await request(t.app, 'GET', url(w, '/x'), { token: w.owner.accessToken })).statusCode).toBe(400);
    expect(
      (await request(t.app, 'GET', url(w, `/${w.roles.admin}`), { token: w.outsider.accessToken }))
        .statusCode,
    ).toBe(404);
  });
});

describe('POST /v1/tenants/:tenantId/roles', () => {
  it('creates a custom role with sorted, de-duplicated permissions', async () => {
    const w = await world();
    const response = await request(t.app, 'POST', url(w), {
      token: w.admin.accessToken,
      body: { name: '  Support  ', permissions: ['members:read', 'audit:read', 'members:read'] },
    });
    expect(response.statusCode).toBe(201);
    const role = response.json() as Role;
    expect(role).toMatchObject({
      tenantId: w.tenantId,
      name: 'Support',
      description: '',
      builtIn: false,
      permissions: ['audit:read', 'members:read'],
    });
    expect(
      (await request(t.app, 'GET', url(w, `/${role.id}`), { token: w.owner.accessToken })).json(),
    ).toEqual(role);
    const withDescription = await createRole(w, { name: 'Empty', description: 'Nothing', permissions: [] });
    expect(withDescription).toMatchObject({ description: 'Nothing', permissions: [] });
  });

  it('refuses a taken name, case-insensitively (409), and the built-in names (409)', async () => {
    const w = await world();
    await createRole(w, { name: 'Support', permissions: [] });
    for (const name of ['support', 'SUPPORT', 'owner', 'Admin', ' member ']) {
      const response = await request(t.app, 'POST', url(w), {
        token: w.owner.accessToken,
        body: { name, permissions: [] },
      });
      expect(response.statusCode, name).toBe(409);
      expect(response.json().code).toBe('conflict');
    }
    // Names are per tenant.
    const other = await world();
    await createRole(other, { name: 'support', permissions: [] });
  });

  it('refuses bad names, malformed and unknown keys, unknown fields (400), changing nothing', async () => {
    const w = await world();
    const post = (body: unknown) => request(t.app, 'POST', url(w), { token: w.owner.accessToken, body });
    expect((await post({ name: '', permissions: [] })).statusCode).toBe(400);
    const blank = await post({ name: '   ', permissions: [] });
    expect(blank.statusCode).toBe(400);
    expect(blank.json().errors).toEqual([expect.objectContaining({ path: '/name' })]);
    expect((await post({ name: 'x'.repeat(101), permissions: [] })).statusCode).toBe(400);
    expect((await post({ name: 'x'.repeat(100), permissions: [] })).statusCode).toBe(201);
    expect((await post({ name: 'NoPerms' })).statusCode).toBe(400);
    expect((await post({ name: 'Bad', permissions: ['Not A Key'] })).statusCode).toBe(400);
    expect((await post({ name: 'Extra', permissions: [], builtIn: true })).statusCode).toBe(400);
    const unknown = await post({
      name: 'Unknown',
      permissions: ['tenant:read', 'invoices:approve', 'zz:top'],
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().errors).toEqual([
      { path: '/permissions', message: expect.stringContaining('invoices:approve, zz:top') },
    ]);
    const rows = await t.app.container.db
      .select()
      .from(rolesTable)
      .where(eq(rolesTable.tenantId, w.tenantId));
    expect(rows.map((r) => r.name).sort()).toEqual(['admin', 'member', 'owner', 'x'.repeat(100)].sort());
  });

  it('an admin cannot create a role holding tenant:delete (403 escalation); the owner can', async () => {
    const w = await world();
    const response = await request(t.app, 'POST', url(w), {
      token: w.admin.accessToken,
      body: { name: 'Destroyer', permissions: ['tenant:read', 'tenant:delete'] },
    });
    expect(response.statusCode).toBe(403);
    expect(response.json().code).toBe('escalation');
    expect(response.json().detail).toContain('tenant:delete');
    expect(response.json().detail).not.toContain('tenant:read');
    await createRole(w, { name: 'Destroyer', permissions: ['tenant:delete'] }, w.owner);
  });

  it('a custom roles:manage holder cannot grant api_keys:manage they lack, but can grant what they hold', async () => {
    const w = await world();
    const { user } = await customMember(w, ['roles:manage', 'roles:read', 'members:read']);
    const escalate = await request(t.app, 'POST', url(w), {
      token: user.accessToken,
      body: { name: 'Keys', permissions: ['api_keys:manage', 'api_keys:read', 'roles:read'] },
    });
    expect(escalate.statusCode).toBe(403);
    expect(escalate.json().code).toBe('escalation');
    expect(escalate.json().detail).toContain('api_keys:manage, api_keys:read');
    const fine = await request(t.app, 'POST', url(w, ''), {
      token: user.accessToken,
      body: { name: 'Readers', permissions: ['roles:read', 'members:read'] },
    });
    expect(fine.statusCode).toBe(201);
  });

  it('a member without roles:manage gets 403 forbidden; an outsider 404; a superuser may grant anything', async () => {
    const w = await world();
    const body = { name: 'Any', permissions: ['tenant:delete'] };
    const member = await request(t.app, 'POST', url(w), { token: w.member.accessToken, body });
    expect(member.statusCode).toBe(403);
    expect(member.json().code).toBe('forbidden');
    expect((await request(t.app, 'POST', url(w), { token: w.outsider.accessToken, body })).statusCode).toBe(
      404,
    );
    const root = await createSuperuser(t.app);
    expect((await request(t.app, 'POST', url(w), { token: root.accessToken, body })).statusCode).toBe(201);
  });
});

describe('PATCH /v1/tenants/:tenantId/roles/:roleId', () => {
  it('renames, describes and re-permissions a custom role', async () => {
    const w = await world();
    const role = await createRole(w, { name: 'Support', permissions: ['tenant:read'] });
    const response = await request(t.app, 'PATCH', url(w, `/${role.id}`), {
      token: w.admin.accessToken,
      body: { name: 'Helpdesk', description: 'First line', permissions: ['members:read', 'audit:read'] },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      id: role.id,
      name: 'Helpdesk',
      description: 'First line',
      permissions: ['audit:read', 'members:read'],
    });
    expect(response.json().createdAt).toBe(role.createdAt);
    const renamed = await request(t.app, 'PATCH', url(w, `/${role.id}`), {
      token: w.admin.accessToken,
      body: { name: 'Support desk' },
    });
    expect(renamed.json()).toMatchObject({
      name: 'Support desk',
      permissions: ['audit:read', 'members:read'],
    });
    expect(
      (await request(t.app, 'GET', url(w, `/${role.id}`), { token: w.owner.accessToken })).json(),
    ).toEqual(renamed.json());
  });

  it('built-in roles cannot be changed (409 built_in_role)', async () => {
    const w = await world();
    for (const id of Object.values(w.roles)) {
      const response = await request(t.app, 'PATCH', url(w, `/${id}`), {
        token: w.owner.accessToken,
        body: { description: 'mine' },
      });
      expect(response.statusCode).toBe(409);
      expect(response.json().code).toBe('built_in_role');
    }
  });

  it('refuses a taken or built-in name (409), an empty body (400), unknown keys (400), foreign ids (404)', async () => {
    const w = await world();
    const other = await world();
    await createRole(w, { name: 'Taken', permissions: [] });
    const role = await createRole(w, { name: 'Mine', permissions: [] });
    const patch = (id: string, body: unknown) =>
      request(t.app, 'PATCH', url(w, `/${id}`), { token: w.owner.accessToken, body });
    expect((await patch(role.id, { name: 'TAKEN' })).statusCode).toBe(409);
    expect((await patch(role.id, { name: 'Owner' })).statusCode).toBe(409);
    expect((await patch(role.id, {})).statusCode).toBe(400);
    expect((await patch(role.id, { permissions: ['no:such'] })).statusCode).toBe(400);
    const foreign = await createRole(other, { name: 'Foreign', permissions: [] });
    expect((await patch(foreign.id, { name: 'Stolen' })).statusCode).toBe(404);
    expect(
      (await request(t.app, 'GET', url(other, `/${foreign.id}`), { token: other.owner.accessToken })).json()
        .name,
    ).toBe('Foreign');
    const member = await request(t.app, 'PATCH', url(w, `/${role.id}`), {
      token: w.member.accessToken,
      body: { name: 'x' },
    });
    expect(member.statusCode).toBe(403);
  });

  it('escalation counts only added keys: a role holding a key the caller lacks can still be trimmed', async () => {
    const w = await world();
    const role = await createRole(w, { name: 'Mixed', permissions: ['tenant:delete', 'tenant:read'] });
    const add = await request(t.app, 'PATCH', url(w, `/${role.id}`), {
      token: w.admin.accessToken,
      body: { permissions: ['tenant:delete', 'tenant:read', 'audit:read'] },
    });
    expect(add.statusCode).toBe(200);
    const trim = await request(t.app, 'PATCH', url(w, `/${role.id}`), {
      token: w.admin.accessToken,
      body: { permissions: ['tenant:read'] },
    });
    expect(trim.statusCode).toBe(200);
    const readd = await request(t.app, 'PATCH', url(w, `/${role.id}`), {
      token: w.admin.accessToken,
      body: { permissions: ['tenant:read', 'tenant:delete'] },
    });
    expect(readd.statusCode).toBe(403);
    expect(readd.json().code).toBe('escalation');
    const stored = await request(t.app, 'GET', url(w, `/${role.id}`), { token: w.owner.accessToken });
    expect(stored.json().permissions).toEqual(['tenant:read']);
  });
});

describe('PUT /v1/tenants/:tenantId/roles/:roleId/permissions', () => {
  it('replaces the permissions of a custom role', async () => {
    const w = await world();
    const role = await createRole(w, { name: 'Ops', permissions: ['tenant:read', 'audit:read'] });
    const response = await request(t.app, 'PUT', url(w, `/${role.id}/permissions`), {
      token: w.owner.accessToken,
      body: { permissions: ['members:read', 'api_keys:read'] },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ name: 'Ops', permissions: ['api_keys:read', 'members:read'] });
    const empty = await request(t.app, 'PUT', url(w, `/${role.id}/permissions`), {
      token: w.owner.accessToken,
      body: { permissions: [] },
    });
    expect(empty.json().permissions).toEqual([]);
  });

  it('built-in 409, unknown key 400, escalation 403, foreign id 404, missing permission 403', async () => {
    const w = await world();
    const other = await world();
    const role = await createRole(w, { name: 'Ops', permissions: ['tenant:read'] });
    const put = (id: string, permissions: unknown, who = w.admin) =>
      request(t.app, 'PUT', url(w, `/${id}/permissions`), { token: who.accessToken, body: { permissions } });
    const builtIn = await put(w.roles.member, ['tenant:read']);
    expect(builtIn.statusCode).toBe(409);
    expect(builtIn.json().code).toBe('built_in_role');
    expect((await put(role.id, ['tenant:read', 'ghost:key'])).statusCode).toBe(400);
    const escalate = await put(role.id, ['tenant:delete']);
    expect(escalate.statusCode).toBe(403);
    expect(escalate.json().code).toBe('escalation');
    expect((await put(other.roles.member, ['tenant:read'])).statusCode).toBe(404);
    expect((await put(role.id, ['tenant:read'], w.member)).statusCode).toBe(403);
    expect((await put(role.id, 'tenant:read')).statusCode).toBe(400);
    const stored = await request(t.app, 'GET', url(w, `/${role.id}`), { token: w.owner.accessToken });
    expect(stored.json().permissions).toEqual(['tenant:read']);
  });
});

describe('DELETE /v1/tenants/:tenantId/roles/:roleId', () => {
  it('deletes an unassigned custom role with its permission links', async () => {
    const w = await world();
    const role = await createRole(w, { name: 'Temp', permissions: ['tenant:read'] });
    const response = await request(t.app, 'DELETE', url(w, `/${role.id}`), { token: w.admin.accessToken });
    expect(response.statusCode).toBe(204);
    expect(
      (await request(t.app, 'GET', url(w, `/${role.id}`), { token: w.owner.accessToken })).statusCode,
    ).toBe(404);
    const links = await t.app.container.db
      .select()
      .from(rolePermissions)
      .where(eq(rolePermissions.roleId, role.id));
    expect(links).toEqual([]);
    expect(
      (await request(t.app, 'DELETE', url(w, `/${role.id}`), { token: w.admin.accessToken })).statusCode,
    ).toBe(404);
  });

  it('a role still assigned is refused (409 role_in_use) and stays', async () => {
    const w = await world();
    const { role } = await customMember(w, ['tenant:read']);
    const response = await request(t.app, 'DELETE', url(w, `/${role.id}`), { token: w.owner.accessToken });
    expect(response.statusCode).toBe(409);
    expect(response.json().code).toBe('role_in_use');
    expect(
      (await request(t.app, 'GET', url(w, `/${role.id}`), { token: w.owner.accessToken })).statusCode,
    ).toBe(200);
  });

  it('the foreign key backs the check: deleting an assigned role maps member_roles_role_fkey to role_in_use', async () => {
    const w = await world();
    const { role } = await customMember(w, ['tenant:read']);
    const attempt = t.app.container.db.transaction((tx) => repo.deleteRole(tx, w.tenantId, role.id));
    await expect(attempt).rejects.toBeInstanceOf(ConflictError);
    await expect(
      t.app.container.db.transaction((tx) => repo.deleteRole(tx, w.tenantId, role.id)),
    ).rejects.toMatchObject({ code: 'role_in_use' });
  });

  it('built-in roles cannot be deleted (409); foreign ids 404; members without roles:manage 403', async () => {
    const w = await world();
    const other = await world();
    for (const id of Object.values(w.roles)) {
      const response = await request(t.app, 'DELETE', url(w, `/${id}`), { token: w.owner.accessToken });
      expect(response.statusCode).toBe(409);
      expect(response.json().code).toBe('built_in_role');
    }
    const foreign = await createRole(other, { name: 'Foreign', permissions: [] });
    expect(
      (await request(t.app, 'DELETE', url(w, `/${foreign.id}`), { token: w.owner.accessToken })).statusCode,
    ).toBe(404);
    expect(
      (await request(t.app, 'GET', url(other, `/${foreign.id}`), { token: other.owner.accessToken }))
        .statusCode,
    ).toBe(200);
    const mine = await createRole(w, { name: 'Mine', permissions: [] });
    expect(
      (await request(t.app, 'DELETE', url(w, `/${mine.id}`), { token: w.member.accessToken })).statusCode,
    ).toBe(403);
    expect(
      (await request(t.app, 'DELETE', url(w, `/${mine.id}`), { token: w.outsider.accessToken })).statusCode,
    ).toBe(404);
  });
});

describe('role changes apply on the next request', () => {
  it('removing roles:read from a custom role forbids its holder at once; adding it back allows', async () => {
    const w = await world();
    const { user, role } = await customMember(w, ['roles:read']);
    const list = () => request(t.app, 'GET', url(w), { token: user.accessToken });
    expect((await list()).statusCode).toBe(200); // now cached
    await request(t.app, 'PUT', url(w, `/${role.id}/permissions`), {
      token: w.owner.accessToken,
      body: { permissions: ['tenant:read'] },
    });
    expect((await list()).statusCode).toBe(403);
    await request(t.app, 'PATCH', url(w, `/${role.id}`), {
      token: w.owner.accessToken,
      body: { permissions: ['roles:read'] },
    });
    expect((await list()).statusCode).toBe(200);
  });

  it('a deleted role leaves the list other members see on their next request', async () => {
    const w = await world();
    const role = await createRole(w, { name: 'Readers', permissions: ['roles:read'] });
    const user = await createSignedInUser(t.app);
    await seedMember(t.app, w.tenantId, user.user.id, [w.roles.member]);
    expect((await request(t.app, 'GET', url(w), { token: user.accessToken })).statusCode).toBe(200);
    const response = await request(t.app, 'DELETE', url(w, `/${role.id}`), { token: w.owner.accessToken });
    expect(response.statusCode).toBe(204);
    const list = await request(t.app, 'GET', url(w), { token: user.accessToken });
    expect(list.json().data.map((r: Role) => r.name)).not.toContain('Readers');
  });
});

describe('deleting a role while it is being assigned', () => {
  it('never answers 500 and never leaves a member holding a deleted role', async () => {
    const w = await world();
    for (let i = 0; i < 10; i++) {
      const role = await createRole(w, { name: `Race ${i}`, permissions: ['tenant:read'] });
      const user = await createSignedInUser(t.app);
      const [deleted, assigned] = await Promise.all([
        request(t.app, 'DELETE', url(w, `/${role.id}`), { token: w.owner.accessToken }),
        seedMember(t.app, w.tenantId, user.user.id, [role.id]).then(
          () => true,
          () => false,
        ),
      ]);
      expect([204, 409]).toContain(deleted.statusCode);
      const exists = await request(t.app, 'GET', url(w, `/${role.id}`), { token: w.owner.accessToken });
      if (deleted.statusCode === 204) {
        expect(assigned).toBe(false);
        expect(exists.statusCode).toBe(404);
      } else {
        expect(deleted.json().code).toBe('role_in_use');
        expect(assigned).toBe(true);
        expect(exists.statusCode).toBe(200);
      }
    }
  });
});
