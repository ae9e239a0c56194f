import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, eventually, request, type TestApp } from '../../../test/app.js';
import { addMember, createSignedInUser, createTenant, type SignedIn } from '../../../test/factories.js';

/**
 * Tenant-scoped tokens, and the permission cache across two instances of the service on one
 * database: a role change or removal on one instance applies on the other's next request.
 */
const ENV = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };

let a: TestApp;
let b: TestApp;
beforeAll(async () => {
  a = await createTestApp({ env: ENV });
  b = await createTestApp({ env: ENV, database: a.database });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

const claims = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('tenant-scoped tokens', () => {
  it('login and refresh with a tenantId carry tid and the member’s current permissions', async () => {
    const owner = await createSignedInUser(a.app);
    const member = await createSignedInUser(a.app);
    const tenant = await createTenant(a.app, owner);
    await addMember(a.app, tenant.id, member, ['member']);

    const login = await request(a.app, 'POST', '/v1/auth/login', {
      body: { email: member.email, password: member.password, tenantId: tenant.id },
    });
    expect(login.statusCode, login.body).toBe(200);
    expect(claims(login.json().accessToken)).toMatchObject({
      sub: member.user.id,
      tid: tenant.id,
      permissions: ['members:read', 'roles:read', 'tenant:read'],
    });

    await request(a.app, 'PUT', `/v1/tenants/${tenant.id}/members/${member.user.id}/roles`, {
      token: owner.accessToken,
      body: { roleIds: [tenant.roles.admin] },
    });
    const refreshed = await request(a.app, 'POST', '/v1/auth/refresh', {
      body: { refreshToken: login.json().refreshToken, tenantId: tenant.id },
    });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    const permissions = claims(refreshed.json().accessToken).permissions as string[];
    expect(permissions).toContain('members:update');
    expect(permissions).not.toContain('tenant:delete');
    expect(claims(refreshed.json().accessToken).tid).toBe(tenant.id);
  });

  it('answers 403 to login and refresh for a tenant the user is not in', async () => {
    const owner = await createSignedInUser(a.app);
    const stranger = await createSignedInUser(a.app);
    const tenant = await createTenant(a.app, owner);
    const login = await request(a.app, 'POST', '/v1/auth/login', {
      body: { email: stranger.email, password: stranger.password, tenantId: tenant.id },
    });
    expect(login.statusCode).toBe(403);
    expect(login.json().code).toBe('forbidden');
    const refresh = await request(a.app, 'POST', '/v1/auth/refresh', {
      body: { refreshToken: stranger.refreshToken, tenantId: tenant.id },
    });
    expect(refresh.statusCode).toBe(403);
  });

  it('never trusts the claims: a removed role denies on the next request though the token lists it', async () => {
    const owner = await createSignedInUser(a.app);
    const admin = await createSignedInUser(a.app);
    const tenant = await createTenant(a.app, owner);
    await addMember(a.app, tenant.id, admin, ['admin']);
    const login = await request(a.app, 'POST', '/v1/auth/login', {
      body: { email: admin.email, password: admin.password, tenantId: tenant.id },
    });
    const token = login.json().accessToken as string;
    expect(claims(token).permissions).toContain('tenant:update');
    const rename = () =>
      request(a.app, 'PATCH', `/v1/tenants/${tenant.id}`, { token, body: { name: 'Renamed' } });
    expect((await rename()).statusCode).toBe(200);

    await request(a.app, 'PUT', `/v1/tenants/${tenant.id}/members/${admin.user.id}/roles`, {
      token: owner.accessToken,
      body: { roleIds: [tenant.roles.member] },
    });
    const denied = await rename();
    expect(denied.statusCode).toBe(403);
    expect(denied.json().detail).toContain('tenant:update');

    await request(a.app, 'DELETE', `/v1/tenants/${tenant.id}/members/${admin.user.id}`, {
      token: owner.accessToken,
    });
    expect((await request(a.app, 'GET', `/v1/tenants/${tenant.id}`, { token })).statusCode).toBe(404);
  });
});

describe('the permission cache across instances', () => {
  let owner: SignedIn;
  let admin: SignedIn;
  beforeAll(async () => {
    owner = await createSignedInUser(a.app);
    admin = await createSignedInUser(a.app);
  });

  it('a role change on A denies on B, which had the access cached', async () => {
    const tenant = await createTenant(a.app, owner);
    await addMember(a.app, tenant.id, admin, ['admin']);
    const members = () =>
      request(b.app, 'GET', `/v1/tenants/${tenant.id}/members`, { token: admin.accessToken });
    const rename = () =>
      request(b.app, 'PATCH', `/v1/tenants/${tenant.id}`, { token: admin.accessToken, body: { name: 'B' } });
    expect((await rename()).statusCode).toBe(200);

    const change = await request(a.app, 'PUT', `/v1/tenants/${tenant.id}/members/${admin.user.id}/roles`, {
      token: owner.accessToken,
      body: { roleIds: [tenant.roles.member] },
    });
    expect(change.statusCode).toBe(200);
    expect((await eventually(rename, 403)).statusCode).toBe(403);
    expect((await members()).statusCode).toBe(200);
  });

  it('a removal, and a tenant deletion, on A answer 404 on B', async () => {
    const tenant = await createTenant(a.app, owner);
    await addMember(a.app, tenant.id, admin, ['admin']);
    const read = (token: string) => () => request(b.app, 'GET', `/v1/tenants/${tenant.id}`, { token });
    expect((await read(admin.accessToken)()).statusCode).toBe(200);
    expect((await read(owner.accessToken)()).statusCode).toBe(200);

    await request(a.app, 'DELETE', `/v1/tenants/${tenant.id}/members/${admin.user.id}`, {
      token: owner.accessToken,
    });
    expect((await eventually(read(admin.accessToken), 404)).statusCode).toBe(404);

    await request(a.app, 'DELETE', `/v1/tenants/${tenant.id}`, { token: owner.accessToken });
    expect((await eventually(read(owner.accessToken), 404)).statusCode).toBe(404);
  });

  it('a member added on A is let in on B, which had cached them as a stranger', async () => {
    const tenant = await createTenant(a.app, owner);
    const read = () => request(b.app, 'GET', `/v1/tenants/${tenant.id}`, { token: admin.accessToken });
    expect((await read()).statusCode).toBe(404);
    await addMember(a.app, tenant.id, admin, ['member']);
    expect((await eventually(read, 200)).statusCode).toBe(200);
  });
});
