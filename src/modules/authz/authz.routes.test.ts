import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, request, type TestApp } from '../../../test/app.js';
import {
  createSignedInUser,
  createSuperuser,
  type SeededTenant,
  type SignedIn,
  seedMember,
  seedTenant,
} from '../../../test/factories.js';

let t: TestApp;
let root: SignedIn;
beforeAll(async () => {
  t = await createTestApp({ env: { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' } });
  root = await createSuperuser(t.app);
});
afterAll(async () => t?.close());

interface World extends SeededTenant {
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
  const seeded = await seedTenant(t.app, owner);
  await seedMember(t.app, seeded.tenantId, admin.user.id, [seeded.roles.admin]);
  await seedMember(t.app, seeded.tenantId, member.user.id, [seeded.roles.member]);
  return { ...seeded, owner, admin, member, outsider };
}

/** A member holding only a new custom role with `permissions`. */
async function customMember(w: World, permissions: string[]): Promise<{ user: SignedIn; roleId: string }> {
  const role = await request(t.app, 'POST', `/v1/tenants/${w.tenantId}/roles`, {
    token: w.owner.accessToken,
    body: { name: `custom-${Math.random().toString(36).slice(2)}`, permissions },
  });
  expect(role.statusCode).toBe(201);
  const user = await createSignedInUser(t.app);
  await seedMember(t.app, w.tenantId, user.user.id, [role.json().id]);
  return { user, roleId: role.json().id };
}

const check = (who: SignedIn | undefined, body: unknown) =>
  request(t.app, 'POST', '/v1/authz/check', { ...(who ? { token: who.accessToken } : {}), body });
const allowed = async (who: SignedIn, body: Record<string, unknown>) => {
  const response = await check(who, body);
  expect(response.statusCode, response.body).toBe(200);
  return response.json().allowed as boolean;
};
const batch = (who: SignedIn, checks: unknown[]) =>
  request(t.app, 'POST', '/v1/authz/check-batch', { token: who.accessToken, body: { checks } });

describe('POST /v1/authz/check: the caller', () => {
  it('answers from the caller’s roles in the tenant', async () => {
    const w = await world();
    const { tenantId } = w;
    expect(await allowed(w.member, { tenantId, permission: 'tenant:read' })).toBe(true);
    expect(await allowed(w.member, { tenantId, permission: 'roles:manage' })).toBe(false);
    expect(await allowed(w.admin, { tenantId, permission: 'roles:manage' })).toBe(true);
    expect(await allowed(w.admin, { tenantId, permission: 'tenant:delete' })).toBe(false);
    expect(await allowed(w.owner, { tenantId, permission: 'tenant:delete' })).toBe(true);
    // Naming yourself is the same as naming nobody, and needs no members:read.
    const { user } = await customMember(w, ['audit:read']);
    expect(await allowed(user, { tenantId, permission: 'audit:read', userId: user.user.id })).toBe(true);
    expect(await allowed(user, { tenantId, permission: 'tenant:read' })).toBe(false);
  });

  it('an unknown key answers false; a malformed key, a bad id or an unknown field is a 400', async () => {
    const w = await world();
    expect(await allowed(w.owner, { tenantId: w.tenantId, permission: 'never:defined' })).toBe(false);
    for (const body of [
      { tenantId: w.tenantId, permission: 'Tenant:Read' },
      { tenantId: w.tenantId, permission: 'tenant' },
      { tenantId: 'nope', permission: 'tenant:read' },
      { tenantId: w.tenantId, permission: 'tenant:read', userId: 'me' },
      { tenantId: w.tenantId, permission: 'tenant:read', extra: 1 },
      { tenantId: w.tenantId },
    ]) {
      const response = await check(w.owner, body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(response.json().code).toBe('validation_failed');
    }
    const malformed = await check(w.owner, { tenantId: w.tenantId, permission: 'Tenant:Read' });
    expect(malformed.json().errors).toEqual([expect.objectContaining({ path: '/permission' })]);
  });

  it('a tenant the caller does not belong to, or that does not exist, is a 404; no token a 401', async () => {
    const w = await world();
    const outsider = await check(w.outsider, { tenantId: w.tenantId, permission: 'tenant:read' });
    expect(outsider.statusCode).toBe(404);
    expect(outsider.json().code).toBe('not_found');
    expect(outsider.body).not.toContain(w.tenantId);
    const missing = await check(w.owner, { tenantId: crypto.randomUUID(), permission: 'tenant:read' });
    expect(missing.statusCode).toBe(404);
    const anonymous = await check(undefined, { tenantId: w.tenantId, permission: 'tenant:read' });
    expect(anonymous.statusCode).toBe(401);
  });
});

describe('POST /v1/authz/check: another user', () => {
  it('needs members:read in the tenant', async () => {
    const w = await world();
    const { tenantId } = w;
    expect(await allowed(w.member, { tenantId, permission: 'roles:manage', userId: w.admin.user.id })).toBe(
      true,
    );
    expect(await allowed(w.member, { tenantId, permission: 'tenant:delete', userId: w.admin.user.id })).toBe(
      false,
    );
    const { user } = await customMember(w, ['tenant:read']);
    const forbidden = await check(user, { tenantId, permission: 'tenant:read', userId: w.owner.user.id });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().code).toBe('forbidden');
    expect(forbidden.json().detail).toContain('members:read');
  });

  it('a user who is not a member answers false; an outsider asking about a member gets 404', async () => {
    const w = await world();
    const { tenantId } = w;
    expect(await allowed(w.member, { tenantId, permission: 'tenant:read', userId: w.outsider.user.id })).toBe(
      false,
    );
    expect(
      await allowed(w.member, { tenantId, permission: 'tenant:read', userId: crypto.randomUUID() }),
    ).toBe(false);
    const leak = await check(w.outsider, { tenantId, permission: 'tenant:read', userId: w.owner.user.id });
    expect(leak.statusCode).toBe(404);
  });

  it('a superuser may ask about anyone in any tenant; their own status grants no tenant permission', async () => {
    const w = await world();
    const { tenantId } = w;
    expect(await allowed(root, { tenantId, permission: 'tenant:delete', userId: w.owner.user.id })).toBe(
      true,
    );
    expect(await allowed(root, { tenantId, permission: 'roles:manage', userId: w.member.user.id })).toBe(
      false,
    );
    // Same answer as a tenant-scoped token would carry: a superuser who is not a member holds nothing.
    expect(await allowed(root, { tenantId, permission: 'tenant:read' })).toBe(false);
    const missing = await check(root, { tenantId: crypto.randomUUID(), permission: 'tenant:read' });
    expect(missing.statusCode).toBe(404);
  });
});

describe('POST /v1/authz/check-batch', () => {
  it('answers each check in order', async () => {
    const w = await world();
    const other = await world();
    await seedMember(t.app, other.tenantId, w.member.user.id, [other.roles.admin]);
    const response = await batch(w.member, [
      { tenantId: w.tenantId, permission: 'tenant:read' },
      { tenantId: w.tenantId, permission: 'roles:manage' },
      { tenantId: other.tenantId, permission: 'roles:manage' },
      { tenantId: w.tenantId, permission: 'roles:manage', userId: w.admin.user.id },
      { tenantId: w.tenantId, permission: 'unknown:key' },
      { tenantId: other.tenantId, permission: 'tenant:delete', userId: other.owner.user.id },
    ]);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      results: [
        { allowed: true },
        { allowed: false },
        { allowed: true },
        { allowed: true },
        { allowed: false },
        { allowed: true },
      ],
    });
  });

  it('takes 1 to 100 checks: 100 pass, 101 and 0 are a 400', async () => {
    const w = await world();
    const item = { tenantId: w.tenantId, permission: 'tenant:read' };
    const hundred = await batch(
      w.member,
      Array.from({ length: 100 }, () => item),
    );
    expect(hundred.statusCode).toBe(200);
    expect(hundred.json().results).toHaveLength(100);
    expect(hundred.json().results.every((r: { allowed: boolean }) => r.allowed)).toBe(true);
    const tooMany = await batch(
      w.member,
      Array.from({ length: 101 }, () => item),
    );
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().errors).toEqual([expect.objectContaining({ path: '/checks' })]);
    expect((await batch(w.member, [])).statusCode).toBe(400);
    const malformed = await batch(w.member, [item, { tenantId: w.tenantId, permission: 'BAD' }]);
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().errors).toEqual([expect.objectContaining({ path: '/checks/1/permission' })]);
  });

  it('an item the caller may not ask about fails the whole request, naming its index', async () => {
    const w = await world();
    const other = await world();
    const { user } = await customMember(w, ['tenant:read']);
    const forbidden = await batch(user, [
      { tenantId: w.tenantId, permission: 'tenant:read' },
      { tenantId: w.tenantId, permission: 'tenant:read', userId: w.owner.user.id },
    ]);
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().detail).toContain('checks/1');
    const hidden = await batch(w.member, [
      { tenantId: w.tenantId, permission: 'tenant:read' },
      { tenantId: w.tenantId, permission: 'tenant:read' },
      { tenantId: other.tenantId, permission: 'tenant:read' },
    ]);
    expect(hidden.statusCode).toBe(404);
    expect(hidden.json().detail).toContain('checks/2');
    expect(hidden.body).not.toContain(other.tenantId);
  });
});

describe('cached answers', () => {
  it('repeated checks of cached members run no query', async () => {
    const w = await world();
    const items = [
      { tenantId: w.tenantId, permission: 'tenant:read' },
      { tenantId: w.tenantId, permission: 'roles:manage', userId: w.admin.user.id },
      { tenantId: w.tenantId, permission: 'never:defined', userId: w.owner.user.id },
    ];
    expect((await batch(w.member, items)).statusCode).toBe(200); // warms the cache
    const { db } = t.app.container;
    const select = vi.spyOn(db, 'select');
    const execute = vi.spyOn(db, 'execute');
    try {
      for (let i = 0; i < 20; i++) {
        expect((await batch(w.member, items)).json().results).toEqual([
          { allowed: true },
          { allowed: true },
          { allowed: false },
        ]);
        expect(await allowed(w.member, items[0]!)).toBe(true);
      }
      expect(select).not.toHaveBeenCalled();
      expect(execute).not.toHaveBeenCalled();
    } finally {
      select.mockRestore();
      execute.mockRestore();
    }
  });

  it('a role permission edit applies to checks on the next request', async () => {
    const w = await world();
    const { user, roleId } = await customMember(w, ['audit:read']);
    const body = { tenantId: w.tenantId, permission: 'audit:read' };
    expect(await allowed(user, body)).toBe(true);
    await request(t.app, 'PUT', `/v1/tenants/${w.tenantId}/roles/${roleId}/permissions`, {
      token: w.owner.accessToken,
      body: { permissions: ['tenant:read'] },
    });
    expect(await allowed(user, body)).toBe(false);
    expect(await allowed(user, { ...body, permission: 'tenant:read' })).toBe(true);
  });
});

describe('application permissions end to end', () => {
  const tokenClaims = (accessToken: string) =>
    JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as {
      tid?: string;
      permissions?: string[];
    };
  const tenantLogin = async (user: SignedIn, tenantId: string) => {
    const response = await request(t.app, 'POST', '/v1/auth/login', {
      body: { email: user.email, password: user.password, tenantId },
    });
    expect(response.statusCode, response.body).toBe(200);
    return tokenClaims(response.json().accessToken);
  };

  it('invoices:approve: in a custom role, in checks, in tokens; owner holds it; removal revokes it', async () => {
    const w = await world();
    const body = { tenantId: w.tenantId, permission: 'invoices:approve' };
    // Before it exists: nobody holds it, not even the owner, and no role may carry it.
    expect(await allowed(w.owner, body)).toBe(false);

    const created = await request(t.app, 'POST', '/v1/permissions', {
      token: root.accessToken,
      body: { key: 'invoices:approve', description: 'Approve invoices' },
    });
    expect(created.statusCode).toBe(201);

    const { user: approver, roleId } = await customMember(w, ['invoices:approve', 'tenant:read']);
    expect(await allowed(approver, body)).toBe(true);
    expect(await allowed(w.owner, body)).toBe(true); // by rule, with no change to the owner role
    expect(await allowed(w.admin, body)).toBe(true);
    expect(await allowed(w.member, body)).toBe(false);
    expect(await allowed(w.member, { ...body, userId: approver.user.id })).toBe(true);

    const claims = await tenantLogin(approver, w.tenantId);
    expect(claims.tid).toBe(w.tenantId);
    expect(claims.permissions).toEqual(['invoices:approve', 'tenant:read']);
    expect((await tenantLogin(w.owner, w.tenantId)).permissions).toContain('invoices:approve');
    expect((await tenantLogin(w.member, w.tenantId)).permissions).not.toContain('invoices:approve');

    // An admin (who holds it by rule) may grant it; a member with roles:manage but not it may not.
    const { user: manager } = await customMember(w, ['roles:manage', 'roles:read']);
    const escalate = await request(t.app, 'POST', `/v1/tenants/${w.tenantId}/roles`, {
      token: manager.accessToken,
      body: { name: 'Approvers', permissions: ['invoices:approve'] },
    });
    expect(escalate.statusCode).toBe(403);
    expect(escalate.json().code).toBe('escalation');

    const removed = await request(t.app, 'DELETE', '/v1/permissions/invoices:approve', {
      token: root.accessToken,
    });
    expect(removed.statusCode).toBe(204);
    expect(await allowed(approver, body)).toBe(false);
    expect(await allowed(w.owner, body)).toBe(false);
    const role = await request(t.app, 'GET', `/v1/tenants/${w.tenantId}/roles/${roleId}`, {
      token: w.owner.accessToken,
    });
    expect(role.json().permissions).toEqual(['tenant:read']);
    expect((await tenantLogin(approver, w.tenantId)).permissions).toEqual(['tenant:read']);
  });
});
