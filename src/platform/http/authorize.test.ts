import Fastify, { type FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../domain/principal.js';
import { registerAuthorization, type TenantAccessView } from './authorize.js';
import { sendProblem, toProblem } from './errors.js';

const TENANT = '01900000-0000-7000-8000-000000000001';
const ME = '01900000-0000-7000-8000-0000000000aa';

/** A bare app with the guard, a fixed principal and a resolver that knows one tenant. */
function guarded(access: TenantAccessView | null): FastifyInstance {
  const app = Fastify();
  app.setErrorHandler((error, request, reply) => sendProblem(reply, toProblem(error, request), error));
  app.decorateRequest<Principal>('principal', null as unknown as Principal);
  app.addHook('onRequest', async (request) => {
    request.principal = { type: 'user', userId: ME, sessionId: 's', isSuperuser: false };
  });
  registerAuthorization(app, async (_principal, tenantId) => (tenantId === TENANT ? access : null));
  return app;
}

describe('tenant guard', () => {
  it('refuses to start when a tenant route declares no permission (fails closed)', () => {
    const app = guarded(null);
    expect(() => app.get('/v1/tenants/:tenantId/things', async () => ({}))).toThrow(/declares no permission/);
  });

  it('answers 404 to a non-member, as for a tenant that does not exist', async () => {
    const app = guarded(null);
    app.get('/v1/tenants/:tenantId/things', { config: { permission: 'things:read' } }, async () => ({
      ok: true,
    }));
    const response = await app.inject({ method: 'GET', url: `/v1/tenants/${TENANT}/things` });
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('not_found');
  });

  it('answers 403 naming the missing permission, and lets a holder through', async () => {
    const holder = guarded({ tenantId: TENANT, permissions: new Set(['things:read']), isOwner: false });
    const lacking = guarded({ tenantId: TENANT, permissions: new Set(['other:read']), isOwner: false });
    for (const app of [holder, lacking]) {
      app.get('/v1/tenants/:tenantId/things', { config: { permission: 'things:read' } }, async () => ({
        ok: true,
      }));
    }
    expect((await holder.inject({ method: 'GET', url: `/v1/tenants/${TENANT}/things` })).json()).toEqual({
      ok: true,
    });
    const denied = await lacking.inject({ method: 'GET', url: `/v1/tenants/${TENANT}/things` });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().detail).toContain('things:read');
  });

  it('lets a member act on themselves through `self`, but not on someone else', async () => {
    const app = guarded({ tenantId: TENANT, permissions: new Set(), isOwner: false });
    app.get(
      '/v1/tenants/:tenantId/people/:userId',
      { config: { permission: 'people:read', self: 'userId' } },
      async () => ({ ok: true }),
    );
    expect((await app.inject({ method: 'GET', url: `/v1/tenants/${TENANT}/people/${ME}` })).statusCode).toBe(
      200,
    );
    const other = await app.inject({ method: 'GET', url: `/v1/tenants/${TENANT}/people/${TENANT}` });
    expect(other.statusCode).toBe(403);
  });

  it('records every guarded route with its permission, for the authz matrix', async () => {
    const app = guarded(null);
    app.get('/v1/tenants/:tenantId/things', { config: { permission: 'things:read' } }, async () => ({}));
    app.delete(
      '/v1/tenants/:tenantId/things/:id',
      { config: { permission: 'things:manage' } },
      async () => ({}),
    );
    app.get('/v1/elsewhere', async () => ({}));
    await app.ready();
    expect(app.tenantRoutes).toEqual([
      { method: 'GET', url: '/v1/tenants/:tenantId/things', permission: 'things:read' },
      { method: 'DELETE', url: '/v1/tenants/:tenantId/things/:id', permission: 'things:manage' },
    ]);
  });
});
