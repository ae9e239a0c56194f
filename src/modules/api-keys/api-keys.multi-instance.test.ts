import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, eventually, request, type TestApp } from '../../../test/app.js';
import { createSignedInUser, createTenant, issueApiKey } from '../../../test/factories.js';

/**
 * Two instances on one database. Each caches keys by hash; a revoke or rotate on one must reach the
 * other through LISTEN/NOTIFY within about a second, not by the entry ageing out (60 s).
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

const onB = (key: string) => () =>
  request(b.app, 'GET', '/v1/auth/principal', { headers: { authorization: `Bearer ${key}` } });

describe('API keys across instances', () => {
  it('a key revoked on A fails on B, which had it cached', async () => {
    const owner = await createSignedInUser(a.app);
    const tenant = await createTenant(a.app, owner);
    const { apiKey, key } = await issueApiKey(a.app, tenant.id, owner);
    expect((await onB(key)()).statusCode).toBe(200);
    const revoked = await request(a.app, 'DELETE', `/v1/tenants/${tenant.id}/api-keys/${apiKey.id}`, {
      token: owner.accessToken,
    });
    expect(revoked.statusCode).toBe(204);
    expect((await eventually(onB(key), (r) => r.statusCode === 401)).statusCode).toBe(401);
  });

  it('a key rotated on A: the old secret fails on B, the new one works there', async () => {
    const owner = await createSignedInUser(a.app);
    const tenant = await createTenant(a.app, owner);
    const { apiKey, key } = await issueApiKey(a.app, tenant.id, owner);
    expect((await onB(key)()).statusCode).toBe(200);
    const rotated = await request(a.app, 'POST', `/v1/tenants/${tenant.id}/api-keys/${apiKey.id}/rotate`, {
      token: owner.accessToken,
    });
    expect(rotated.statusCode).toBe(200);
    expect((await eventually(onB(key), (r) => r.statusCode === 401)).statusCode).toBe(401);
    expect((await onB(rotated.json().key)()).statusCode).toBe(200);
  });

  it('a permission removed from the catalogue on A leaves the keys that held it on B', async () => {
    const root = await createSignedInUser(a.app, { isSuperuser: true });
    await request(a.app, 'POST', '/v1/permissions', {
      token: root.accessToken,
      body: { key: 'ships:launch', description: '' },
    });
    const owner = await createSignedInUser(a.app);
    const tenant = await createTenant(a.app, owner);
    const { key } = await issueApiKey(a.app, tenant.id, owner, { permissions: ['ships:launch'] });
    const check = () =>
      request(b.app, 'POST', '/v1/authz/check', {
        headers: { 'x-api-key': key },
        body: { tenantId: tenant.id, permission: 'ships:launch' },
      });
    expect((await check()).json()).toEqual({ allowed: true });
    await request(a.app, 'DELETE', '/v1/permissions/ships:launch', { token: root.accessToken });
    expect((await eventually(check, (r) => r.json().allowed === false)).json()).toEqual({ allowed: false });
  });
});
