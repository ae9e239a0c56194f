import type { FastifyInstance, FastifyRequest, preHandlerHookHandler } from 'fastify';
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

type Params = Record<string, string | undefined>;

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

  // One guard per route, knowing its permission, as a callback hook: no route-options lookup and
  // no extra promise per request.
  const guard = (permission: string, self: string | undefined): preHandlerHookHandler => {
    const decide = (request: FastifyRequest, access: TenantAccessView | null): Error | undefined => {
      if (!access) return new NotFoundError('Tenant not found');
      request.tenantAccess = access;
      const { principal } = request;
      if (self && principal.type === 'user' && (request.params as Params)[self] === principal.userId) return;
      if (!access.permissions.has(permission)) {
        return new ForbiddenError('forbidden', `This needs the ${permission} permission`);
      }
    };
    return (request, _reply, done) => {
      resolve(request.principal, (request.params as Params).tenantId as string).then(
        (access) => done(decide(request, access)),
        done,
      );
    };
  };

  app.addHook('onRoute', (route) => {
    if (!route.url.includes(':tenantId')) return;
    if (!route.config?.permission) {
      throw new Error(`${route.method} ${route.url} is a tenant route but declares no permission`);
    }
    // preHandler: after authentication, and after the params were validated (a malformed id is a
    // 400 that reveals nothing), before the handler.
    const { permission, self } = route.config;
    const existing = route.preHandler ? [route.preHandler].flat() : [];
    route.preHandler = [guard(permission, self), ...existing] as typeof route.preHandler;
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      registry.push({ method, url: route.url, permission, ...(self ? { self } : {}) });
    }
  });
}
