import { ForbiddenError } from './errors.js';

/**
 * Who is making a request, resolved once by `authenticate`. Routes and services take this, never
 * an id from the body or a header, so identity cannot be chosen by the caller.
 */
export interface UserPrincipal {
  type: 'user';
  userId: string;
  sessionId: string;
  isSuperuser: boolean;
  /** The `tid` claim of a tenant-scoped token: informational, never trusted for authorization. */
  tokenTenantId?: string;
}

/**
 * An API key: belongs to one tenant and holds a fixed set of permissions there, nothing anywhere
 * else. `isSuperuser` is always false, so platform checks that read it stay closed.
 */
export interface ApiKeyPrincipal {
  type: 'api_key';
  keyId: string;
  tenantId: string;
  permissions: ReadonlySet<string>;
  isSuperuser: false;
}

export type Principal = UserPrincipal | ApiKeyPrincipal;

/**
 * The user behind a request on a user-only route. `authenticate` already refuses API keys on every
 * route that does not accept them, so this throwing means a route was misconfigured: it fails closed.
 */
export function userOf(principal: Principal): UserPrincipal {
  if (principal.type !== 'user') throw new ForbiddenError('forbidden', 'API keys cannot use this route');
  return principal;
}
