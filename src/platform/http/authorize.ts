import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ForbiddenError, NotFoundError } from '../../domain/errors.js';
import type { Principal } from '../../domain/principal.js';

/** What the guard learnt about the caller in the route's tenant. */
export interface TenantAccessView {
  tenantId: string;
  permissions: ReadonlySet<string>;
  isOwner: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The permission a tenant route needs. Every route with a `:tenantId` must declare one. */
    permission?: string;
    /**
     * A path parameter naming a user: the caller passes without `permission` when it names
     * themselves (reading their own permissions, leaving a tenant). Membership is still required.
     */
    self?: string;
  }
  interface FastifyRequest {
    /** Set by the guard on tenant routes. */
    tenantAccess: TenantAccessView;
  }
  interface FastifyInstance {
    /** Every tenant route the guard protects, as registered: the authz matrix tests each one. */
    tenantRoutes: TenantRoute[];
  }
}

export interface TenantRoute {
  method: string;
  url: string;
  permission: string;
  self?: string;
}

export type TenantAccessResolver = (
  principal: Principal,
  tenantId: string,
) => Promise<TenantAccessView | null>;

/**
 * The tenant guard, failing closed: registering a route whose path has `:tenantId` without a
 * `permission` stops the app from starting. At request time a non-member gets 404, exactly as for
 * a tenant that does not exist, and a member without the permission 403 naming it.
 */
export function registerAuthorization(app: FastifyInstance, resolve: TenantAccessResolver): void {
  app.decorateRequest('tenantAccess', null as unknown as TenantAccessView);
  const registry: TenantRoute[] = [];
  app.decorate('tenantRoutes', registry);

  const authorize = async (request: FastifyRequest) => {
    const params = request.params as Record<string, string>;
    const { permission, self } = request.routeOptions.config;
    const access = await resolve(request.principal, params.tenantId as string);
    if (!access) throw new NotFoundError('Tenant not found');
    request.tenantAccess = access;
    if (self && request.principal.type === 'user' && params[self] === request.principal.userId) return;
    if (!access.permissions.has(permission as string)) {
      throw new ForbiddenError('forbidden', `This needs the ${permission} permission`);
    }
  };

  app.addHook('onRoute', (route) => {
    if (!route.url.includes(':tenantId')) return;
    if (!route.config?.permission) {
      throw new Error(`${route.method} ${route.url} is a tenant route but declares no permission`);
    }
    // preHandler: after authentication, and after the params were validated (a malformed id is a
    // 400 that reveals nothing), before the handler.
    const existing = route.preHandler ? [route.preHandler].flat() : [];
    route.preHandler = [authorize, ...existing] as typeof route.preHandler;
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      const { permission, self } = route.config;
      registry.push({ method, url: route.url, permission, ...(self ? { self } : {}) });
    }
  });
}
