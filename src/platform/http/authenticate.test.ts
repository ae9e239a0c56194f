import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { createSignedInUser, createSuperuser } from '../../../test/factories.js';
import type { Principal, UserPrincipal } from '../../domain/principal.js';
import { registerAuthentication } from './authenticate.js';
import { sendProblem, toProblem } from './errors.js';

const USER: Principal = { type: 'user', userId: 'u1', sessionId: 's1', isSuperuser: false };
const ADMIN: Principal = { ...USER, userId: 'u2', isSuperuser: true };

describe('registerAuthentication on a bare app', () => {
  let app: FastifyInstance;
  const resolve = vi.fn(async (authorization: string | undefined) =>
    authorization === 'Bearer user' ? USER : authorization === 'Bearer admin' ? ADMIN : undefined,
  );
  const schemas: Record<string, unknown> = {};

  beforeAll(async () => {
    app = Fastify();
    app.setErrorHandler((error, request, reply) => sendProblem(reply, toProblem(error, request), error));
    registerAuthentication(app, resolve);
    app.addHook('onRoute', (route) => {
      schemas[`${route.method} ${route.url}`] = route.schema;
    });
    const order: string[] = [];
    app.get('/v1/private', async (request) => ({ user: (request.principal as UserPrincipal).userId }));
    app.get('/v1/public', { config: { public: true } }, async (request) => ({
      principal: request.principal,
    }));
    app.get('/v1/admin', { config: { superuser: true } }, async () => ({ ok: true }));
    app.get(
      '/v1/with-hook',
      {
        onRequest: async (request) => {
          order.push(`route hook saw ${(request.principal as UserPrincipal | undefined)?.userId}`);
        },
      },
      async () => order,
    );
    app.get('/outside', async (request) => ({ principal: request.principal }));
    await app.ready();
  });
  afterAll(() => app.close());

  const get = (url: string, authorization?: string) =>
    app.inject({ method: 'GET', url, headers: authorization ? { authorization } : {} });

  it('refuses a /v1 route without a principal, with a 401 problem', async () => {
    for (const authorization of [undefined, 'Bearer nobody']) {
      const response = await get('/v1/private', authorization);
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer');
      expect(response.json()).toMatchObject({ code: 'unauthenticated' });
    }
  });

  it('sets request.principal from the resolver', async () => {
    resolve.mockClear();
    const response = await get('/v1/private', 'Bearer user');
    expect(response.json()).toEqual({ user: 'u1' });
    expect(resolve).toHaveBeenCalledWith('Bearer user');
  });

  it('leaves public routes and routes outside /v1 alone', async () => {
    resolve.mockClear();
    expect((await get('/v1/public')).json()).toEqual({ principal: null });
    expect((await get('/outside')).json()).toEqual({ principal: null });
    expect(resolve).not.toHaveBeenCalled();
  });

  it('lets only superusers through a superuser route', async () => {
    expect((await get('/v1/admin')).statusCode).toBe(401);
    const user = await get('/v1/admin', 'Bearer user');
    expect(user.statusCode).toBe(403);
    expect(user.json()).toMatchObject({ code: 'forbidden' });
    expect((await get('/v1/admin', 'Bearer admin')).statusCode).toBe(200);
  });

  it('authenticates before the route’s own onRequest hooks', async () => {
    expect((await get('/v1/with-hook')).statusCode).toBe(401);
    expect((await get('/v1/with-hook', 'Bearer user')).json()).toEqual(['route hook saw u1']);
  });

  it('marks exactly the authenticated routes as needing bearer auth in the schema', () => {
    expect(schemas['GET /v1/private']).toMatchObject({ security: [{ bearerAuth: [] }] });
    expect(schemas['GET /v1/admin']).toMatchObject({ security: [{ bearerAuth: [] }] });
    expect((schemas['GET /v1/public'] as { security?: unknown } | undefined)?.security).toBeUndefined();
    expect((schemas['GET /outside'] as { security?: unknown } | undefined)?.security).toBeUndefined();
  });
});

describe('authentication in the app', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { AUTH_RATE_LIMIT_PER_MINUTE: '0' } });
  });
  afterAll(() => t.close());

  it('a signed-in user reaches their own routes but not superuser ones', async () => {
    const user = await createSignedInUser(t.app);
    const headers = { authorization: `Bearer ${user.accessToken}` };
    expect((await t.app.inject({ method: 'GET', url: '/v1/users/me', headers })).statusCode).toBe(200);
    const admin = await t.app.inject({ method: 'GET', url: '/v1/users', headers });
    expect(admin.statusCode).toBe(403);
    expect(admin.json()).toMatchObject({ code: 'forbidden' });
  });

  it('a superuser reaches the superuser routes', async () => {
    const admin = await createSuperuser(t.app);
    const response = await t.app.inject({
      method: 'GET',
      url: '/v1/users',
      headers: { authorization: `Bearer ${admin.accessToken}` },
    });
    expect(response.statusCode).toBe(200);
  });

  it('a token that is not ours is a 401 token_invalid with an invalid_token challenge', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/v1/users/me',
      headers: { authorization: 'Bearer not.a.jwt' },
    });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ code: 'token_invalid' });
    expect(response.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  });
});
