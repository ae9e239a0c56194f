import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, request, type TestApp } from '../../../test/app.js';
import { buildWorld, FIXTURES, PRINCIPALS, type World } from '../../../test/authz-matrix.js';
import { countAll, countEntries } from './audit.test-helpers.js';

/** The entry each mutating tenant route writes. A new mutating route fails the test until it is listed here. */
const EXPECTED_ACTION: Record<string, string> = {
  'PATCH /v1/tenants/:tenantId': 'tenant.updated',
  'DELETE /v1/tenants/:tenantId': 'tenant.deleted',
  'PUT /v1/tenants/:tenantId/members/:userId/roles': 'member.roles_replaced',
  'DELETE /v1/tenants/:tenantId/members/:userId': 'member.removed',
  'POST /v1/tenants/:tenantId/roles': 'role.created',
  'PATCH /v1/tenants/:tenantId/roles/:roleId': 'role.updated',
  'PUT /v1/tenants/:tenantId/roles/:roleId/permissions': 'role.permissions_replaced',
  'DELETE /v1/tenants/:tenantId/roles/:roleId': 'role.deleted',
  'POST /v1/tenants/:tenantId/api-keys': 'api_key.created',
  'DELETE /v1/tenants/:tenantId/api-keys/:id': 'api_key.revoked',
  'POST /v1/tenants/:tenantId/api-keys/:id/rotate': 'api_key.rotated',
  'POST /v1/tenants/:tenantId/invitations': 'invitation.created',
  'DELETE /v1/tenants/:tenantId/invitations/:id': 'invitation.revoked',
  'POST /v1/tenants/:tenantId/invitations/:id/resend': 'invitation.resent',
};

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const tenantOf = (url: string) => /^\/v1\/tenants\/([^/?]+)/.exec(url)![1]!;

describe('audit completeness', () => {
  let t: TestApp;
  let world: World;
  beforeAll(async () => {
    t = await createTestApp();
    world = await buildWorld(t.app);
  });
  afterAll(() => t.close());

  it('stops unaudited changes: every mutating tenant route writes exactly one entry, in that tenant log', async () => {
    const owner = PRINCIPALS.find((p) => p.name === 'owner')!;
    const routes = t.app.tenantRoutes.filter((r) => MUTATING.has(r.method));
    const problems: string[] = [];
    for (const route of routes) {
      const key = `${route.method} ${route.url}`;
      const call = await FIXTURES[key]!(world, owner);
      const tenantId = tenantOf(call.url);
      const [beforeTenant, beforeAll] = [await countEntries(t.app, tenantId), await countAll(t.app)];
      const response = await t.app.inject({
        method: route.method as 'POST',
        url: call.url,
        headers: { ...owner.headers(world, call), 'user-agent': 'audit-completeness' },
        ...(call.body !== undefined ? { payload: call.body as object } : {}),
      });
      if (response.statusCode >= 300) {
        problems.push(`${key}: ${response.statusCode} ${response.body.slice(0, 200)}`);
        continue;
      }
      const written = (await countEntries(t.app, tenantId)) - beforeTenant;
      const writtenAnywhere = (await countAll(t.app)) - beforeAll;
      if (written !== 1 || writtenAnywhere !== 1)
        problems.push(`${key}: ${written} entries in the tenant log, ${writtenAnywhere} in all`);
      const [entry] = (await t.app.container.audit.list(tenantId, { limit: 1 })).data;
      if (entry?.action !== EXPECTED_ACTION[key]) problems.push(`${key}: wrote ${entry?.action}`);
      if (entry?.actor.type !== 'user' || entry.actor.id !== world.users.owner.user.id)
        problems.push(`${key}: actor ${JSON.stringify(entry?.actor)}`);
      if (entry?.userAgent !== 'audit-completeness' || !entry.ip) problems.push(`${key}: no client info`);
    }
    expect(problems).toEqual([]);
    // Every mutating tenant route was exercised, and each one is in EXPECTED_ACTION.
    expect(routes.map((r) => `${r.method} ${r.url}`).sort()).toEqual(Object.keys(EXPECTED_ACTION).sort());
  });

  it('records tenant creation as the first entry of the new tenant log', async () => {
    const response = await request(t.app, 'POST', '/v1/tenants', {
      token: world.users.owner.accessToken,
      body: { name: 'Audited from birth' },
    });
    const tenantId = response.json().id as string;
    const { data } = await t.app.container.audit.list(tenantId, { limit: 10 });
    expect(data.map((e) => e.action)).toEqual(['tenant.created']);
    expect(data[0]!.target).toEqual({ type: 'tenant', id: tenantId });
  });

  it('stops phantom entries: a change refused with 409 inside its transaction writes none', async () => {
    const other = await request(t.app, 'POST', '/v1/tenants', {
      token: world.users.owner.accessToken,
      body: { name: 'Slug holder' },
    });
    const before = await countAll(t.app);
    const response = await request(t.app, 'PATCH', `/v1/tenants/${world.tenant.id}`, {
      token: world.users.owner.accessToken,
      body: { slug: other.json().slug },
    });
    expect(response.statusCode).toBe(409);
    expect(await countAll(t.app)).toBe(before);
  });

  it('stops entries for changes that never happened: an error after the entry rolls both back', async () => {
    const { audit } = t.app.container;
    const original = audit.record.bind(audit);
    const spy = vi.spyOn(audit, 'record').mockImplementationOnce(async (tx, ctx, entry) => {
      await original(tx, ctx, entry);
      throw new Error('forced failure after the entry was written');
    });
    try {
      const before = await countAll(t.app);
      const name = 'Never renamed';
      const response = await request(t.app, 'PATCH', `/v1/tenants/${world.tenant.id}`, {
        token: world.users.owner.accessToken,
        body: { name },
      });
      expect(response.statusCode).toBe(500);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(await countAll(t.app)).toBe(before);
      const tenant = await request(t.app, 'GET', `/v1/tenants/${world.tenant.id}`, {
        token: world.users.owner.accessToken,
      });
      expect(tenant.json().name).not.toBe(name);
    } finally {
      spy.mockRestore();
    }
    // The log still verifies: nothing half-written.
    expect((await audit.verify(world.tenant.id)).valid).toBe(true);
  });
});
