import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ForbiddenError, UnauthenticatedError } from '../../domain/errors.js';
import type { Principal } from '../../domain/principal.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `authenticate` on every route that is not `public`. */
    principal: Principal;
  }
  interface FastifyContextConfig {
    /** No credentials needed (health, login, ...). Every other /v1 route requires them. */
    public?: boolean;
    /** Platform administration: superusers only. */
    superuser?: boolean;
  }
}

export type PrincipalResolver = (authorization: string | undefined) => Promise<Principal | undefined>;

const BEARER_SECURITY = [{ bearerAuth: [] }];

/**
 * Fails closed: every /v1 route requires a principal unless it declares `config.public`, and the
 * OpenAPI document states each route's security from the same decision.
 */
export function registerAuthentication(app: FastifyInstance, resolve: PrincipalResolver): void {
  app.decorateRequest('principal', null as unknown as Principal);

  const authenticate = async (request: FastifyRequest) => {
    const principal = await resolve(request.headers.authorization);
    if (!principal) throw new UnauthenticatedError('unauthenticated', 'Authentication is required');
    request.principal = principal;
  };

  const requireSuperuser = async (request: FastifyRequest) => {
    if (!request.principal.isSuperuser) throw new ForbiddenError('forbidden', 'Superuser only');
  };

  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/v1/') || route.config?.public) return;
    const hooks = [authenticate, ...(route.config?.superuser ? [requireSuperuser] : [])];
    const existing = route.onRequest ? [route.onRequest].flat() : [];
    route.onRequest = [...hooks, ...existing] as typeof route.onRequest;
    route.schema = { ...route.schema, security: BEARER_SECURITY };
  });
}
