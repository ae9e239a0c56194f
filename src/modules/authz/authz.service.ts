import { ForbiddenError, NotFoundError } from '../../domain/errors.js';
import type { Principal } from '../../domain/principal.js';
import type { Check } from './authz.schemas.js';
import type { PermissionResolver, TenantAccess } from './permission-resolver.js';

/**
 * Answers "may this subject do that in this tenant?" for other services (`/v1/authz/check`).
 *
 * The answer is what the subject holds through its roles in the tenant: exactly the `permissions`
 * claim of a tenant-scoped token. Superuser status is platform administration, not a tenant
 * permission, so it makes a superuser able to *ask* about any tenant, not `allowed` in it.
 *
 * Who may ask: anyone about themselves in a tenant they belong to; about another user, a member
 * holding `members:read` there; a superuser about anyone in any tenant. A caller who cannot see the
 * tenant gets 404, as on every tenant route, so a check never reveals that a tenant exists.
 * Answers come from the resolver's cache: no query per check once the members are cached.
 */
export class AuthzService {
  constructor(private readonly resolver: PermissionResolver) {}

  /** @throws NotFoundError (tenant not visible) · ForbiddenError (another user without members:read) */
  async check(principal: Principal, check: Check): Promise<boolean> {
    return this.#decide(principal, check, '');
  }

  /**
   * Each item is authorized exactly as a single check, in order. An item the caller may not ask
   * about fails the whole request (404/403 naming the item's index) rather than answering
   * `allowed: false`: "you may not ask" is not "the subject may not", and a client that cached or
   * acted on such a false would be wrong without knowing it. OpenFGA/Auth0 FGA's BatchCheck also
   * keeps request errors apart from denials; we fail the request instead of adding per-item error
   * objects, so the result shape stays `{ allowed }` and a caller's bug is loud.
   * @throws NotFoundError · ForbiddenError (for the first offending item)
   */
  async checkBatch(principal: Principal, checks: Check[]): Promise<boolean[]> {
    const results: boolean[] = [];
    for (const [index, check] of checks.entries()) {
      results.push(await this.#decide(principal, check, `checks/${index}: `));
    }
    return results;
  }

  async #decide(principal: Principal, check: Check, where: string): Promise<boolean> {
    const { tenantId, permission } = check;
    switch (principal.type) {
      // An API key checks itself only: a `userId` is refused (403), and the answer is the key's own
      // permissions in its one tenant (404 for any other tenant, as on tenant routes).
      case 'api_key': {
        if (tenantId !== principal.tenantId) throw new NotFoundError(`${where}Tenant not found`);
        if (check.userId !== undefined)
          throw new ForbiddenError('forbidden', `${where}An API key can only check itself`);
        return principal.permissions.has(permission);
      }
      case 'user': {
        const subject = check.userId ?? principal.userId;
        const own = await this.resolver.forMember(tenantId, principal.userId);
        if (!own) {
          if (!principal.isSuperuser || !(await this.resolver.forSuperuser(tenantId)))
            throw new NotFoundError(`${where}Tenant not found`);
        } else if (
          subject !== principal.userId &&
          !principal.isSuperuser &&
          !own.permissions.has('members:read')
        ) {
          throw new ForbiddenError(
            'forbidden',
            `${where}Checking another user needs the members:read permission`,
          );
        }
        const access: TenantAccess | null =
          subject === principal.userId ? own : await this.resolver.forMember(tenantId, subject);
        return access?.permissions.has(permission) ?? false;
      }
    }
  }
}
