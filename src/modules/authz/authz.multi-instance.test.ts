import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, eventually, request, type TestApp } from '../../../test/app.js';
import { createSignedInUser, createSuperuser, seedMember, seedTenant } from '../../../test/factories.js';

/**
 * Two instances on one database. Each caches permissions in memory; what one changes, the other must
 * learn through LISTEN/NOTIFY (within about a second), not by the cache entry ageing out (60 s).
 */
let a: TestApp;
let b: TestApp;
beforeAll(async () => {
  a = await createTestApp();
  b = await createTestApp({ database: a.database });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

/** A tenant made on A, with a member holding the custom role "Auditors" (audit:read). */
async function tenantWithAuditor() {
  const owner = await createSignedInUser(a.app);
  const member = await createSignedInUser(a.app);
  const world = await seedTenant(a.app, owner);
  const role = await request(a.app, 'POST', `/v1/tenants/${world.tenantId}/roles`, {
    token: owner.accessToken,
    body: { name: 'Auditors', permissions: ['audit:read'] },
  });
  await seedMember(a.app, world.tenantId, member.user.id, [role.json().id]);
  return { owner, member, world, role };
}

describe('permission changes across instances', () => {
  it('a role permission edit on A applies on B, which had the member cached', async () => {
    const { owner, member, world, role } = await tenantWithAuditor();
    const body = { tenantId: world.tenantId, permission: 'audit:read' };
    const onB = () => request(b.app, 'POST', '/v1/authz/check', { token: member.accessToken, body });
    expect((await onB()).json()).toEqual({ allowed: true }); // cached on B

    const edit = await request(
      a.app,
      'PUT',
      `/v1/tenants/${world.tenantId}/roles/${role.json().id}/permissions`,
      {
        token: owner.accessToken,
        body: { permissions: ['tenant:read'] },
      },
    );
    expect(edit.statusCode).toBe(200);
    expect((await eventually(onB, (r) => r.json().allowed === false)).json()).toEqual({ allowed: false });
  });

  it('a role renamed on A is named anew in members pages on B, which had the tenant’s names cached', async () => {
    const { owner, world, role } = await tenantWithAuditor();
    const pageOnB = () =>
      request(b.app, 'GET', `/v1/tenants/${world.tenantId}/members`, { token: owner.accessToken });
    const names = (page: { body: string }) =>
      JSON.parse(page.body).data.flatMap((m: { roles: Array<{ name: string }> }) =>
        m.roles.map((r) => r.name),
      );
    expect(names(await pageOnB())).toContain('Auditors'); // cached on B

    const rename = await request(a.app, 'PATCH', `/v1/tenants/${world.tenantId}/roles/${role.json().id}`, {
      token: owner.accessToken,
      body: { name: 'Reviewers' },
    });
    expect(rename.statusCode, rename.body).toBe(200);
    const after = names(await eventually(pageOnB, (page) => names(page).includes('Reviewers')));
    expect(after).toContain('Reviewers');
    expect(after).not.toContain('Auditors');
  });

  it('an application permission added on A is held by owners on B; removed on A, it is gone on B', async () => {
    const root = await createSuperuser(a.app);
    const owner = await createSignedInUser(a.app);
    const world = await seedTenant(a.app, owner);
    const body = { tenantId: world.tenantId, permission: 'ships:launch' };
    const onB = () => request(b.app, 'POST', '/v1/authz/check', { token: owner.accessToken, body });
    expect((await onB()).json()).toEqual({ allowed: false }); // cached on B without the key

    await request(a.app, 'POST', '/v1/permissions', {
      token: root.accessToken,
      body: { key: 'ships:launch', description: '' },
    });
    expect((await eventually(onB, (r) => r.json().allowed === true)).json()).toEqual({ allowed: true });

    await request(a.app, 'DELETE', '/v1/permissions/ships:launch', { token: root.accessToken });
    expect((await eventually(onB, (r) => r.json().allowed === false)).json()).toEqual({ allowed: false });
  });
});
