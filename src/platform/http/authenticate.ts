import type { FastifyInstance, onRequestHookHandler } from 'fastify';
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
    /**
     * Accepts API keys. Tenant routes (`:tenantId`) always do, and the tenant guard keeps a key in
     * its own tenant; every other route refuses keys (403) unless it opts in here.
     */
    apiKey?: boolean;
  }
}

export type PrincipalResolver = (
  authorization: string | undefined,
  apiKey?: string | string[] | undefined,
) => Promise<Principal | undefined>;

const BEARER_SECURITY: Array<Record<string, string[]>> = [{ bearerAuth: [] }];
const KEY_SECURITY: Array<Record<string, string[]>> = [{ bearerAuth: [] }, { apiKey: [] }];

/**
 * Fails closed: every /v1 route requires a principal unless it declares `config.public`, and the
 * OpenAPI document states each route's security from the same decision.
 */
export function registerAuthentication(app: FastifyInstance, resolve: PrincipalResolver): void {
  app.decorateRequest<Principal>('principal', null as unknown as Principal);

  // Callback hooks: they run before every authenticated request, and an async hook costs a promise
  // and a turn of the microtask queue more than a callback.
  const authenticate: onRequestHookHandler = (request, _reply, done) => {
    const apiKey = request.headers['x-api-key'];
    const resolving =
      apiKey === undefined
        ? resolve(request.headers.authorization)
        : resolve(request.headers.authorization, apiKey);
    resolving.then((principal) => {
      if (!principal) return done(new UnauthenticatedError('unauthenticated', 'Authentication is required'));
      request.principal = principal;
      done();
    }, done);
  };

  const requireSuperuser: onRequestHookHandler = (request, _reply, done) =>
    done(request.principal.isSuperuser ? undefined : new ForbiddenError('forbidden', 'Superuser only'));

  // Fails closed for keys too: a key reaches only tenant routes (where the guard holds it to its
  // own tenant) and routes that opt in; platform and user routes answer 403.
  const refuseApiKeys: onRequestHookHandler = (request, _reply, done) =>
    done(
      request.principal.type === 'api_key'
        ? new ForbiddenError('forbidden', 'API keys cannot use this route')
        : undefined,
    );

  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/v1/') || route.config?.public) return;
    const acceptsKeys = route.url.includes(':tenantId') || route.config?.apiKey === true;
    const hooks = [
      authenticate,
      ...(acceptsKeys ? [] : [refuseApiKeys]),
      ...(route.config?.superuser ? [requireSuperuser] : []),
    ];
    const existing = route.onRequest ? [route.onRequest].flat() : [];
    route.onRequest = [...hooks, ...existing] as typeof route.onRequest;
    route.schema = { ...route.schema, security: acceptsKeys ? KEY_SECURITY : BEARER_SECURITY };
  });
}
