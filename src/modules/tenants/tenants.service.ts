import type { Clock } from '../../domain/clock.js';
import { ConflictError, ForbiddenError, NotFoundError } from '../../domain/errors.js';
import { idAt } from '../../domain/ids.js';
import type { UserPrincipal } from '../../domain/principal.js';
import type { Db } from '../../platform/db.js';
import { decodeCursor, type Page, toPage } from '../../platform/pagination.js';
import type { AuditService } from '../audit/audit.service.js';
import type { AuditContext } from '../audit/audit-context.js';
import type { PermissionResolver } from '../authz/permission-resolver.js';
import type { MemberService } from '../members/members.service.js';
import { slugify, withRandomSuffix } from './slug.js';
import * as repo from './tenants.repo.js';
import {
  type CreateTenant,
  type MyTenantView,
  type TenantView,
  toTenantView,
  type UpdateTenant,
} from './tenants.schemas.js';

/** Generated slugs that keep colliding give up after this many tries (each with a new random suffix). */
const SLUG_ATTEMPTS = 8;

interface ListQuery {
  q?: string | undefined;
  cursor?: string | undefined;
  limit: number;
}

/** Tenants: creation with their built-in roles and first owner, listing, renaming, deletion. */
export class TenantService {
  constructor(
    private readonly db: Db,
    private readonly members: MemberService,
    private readonly resolver: PermissionResolver,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly options: { allowTenantCreation: boolean },
  ) {}

  /**
   * Creates a tenant, its built-in roles (owner, admin, member) and the caller's membership as owner,
   * in one transaction. Without a slug one is made from the name, with a random suffix if it is taken.
   * @throws ForbiddenError tenant_creation_disabled · ConflictError conflict (given slug taken)
   */
  async create(ctx: AuditContext, principal: UserPrincipal, input: CreateTenant): Promise<TenantView> {
    if (!this.options.allowTenantCreation && !principal.isSuperuser) {
      throw new ForbiddenError('tenant_creation_disabled', 'Creating tenants is disabled on this server');
    }
    const name = input.name.trim();
    const now = this.clock.now();
    // A retry with another slug keeps the id: the refused insert stored nothing.
    const values = { id: idAt(now), name, createdAt: now, updatedAt: now };
    const { tenant, change } = await this.db.transaction(async (tx) => {
      let slug = input.slug ?? slugify(name);
      let tenant = await repo.insertTenantUnlessSlugTaken(tx, { ...values, slug });
      for (let attempt = 1; !tenant && input.slug === undefined && attempt < SLUG_ATTEMPTS; attempt++) {
        slug = withRandomSuffix(slugify(name));
        tenant = await repo.insertTenantUnlessSlugTaken(tx, { ...values, slug });
      }
      if (!tenant) throw new ConflictError('conflict', 'Another tenant has this slug');
      const ownerRoleId = await repo.insertBuiltInRoles(tx, tenant.id, now);
      const change = await this.members.addMember(tx, tenant.id, principal.userId, [ownerRoleId]);
      await this.audit.record(tx, ctx, {
        tenantId: tenant.id,
        action: 'tenant.created',
        target: { type: 'tenant', id: tenant.id },
        metadata: { name: tenant.name, slug: tenant.slug },
      });
      return { tenant, change };
    });
    this.resolver.apply(change);
    return toTenantView(tenant);
  }

  /** The tenants the caller belongs to, newest first; every tenant for a superuser. */
  async list(principal: UserPrincipal, query: ListQuery): Promise<Page<TenantView>> {
    const rows = await repo.listTenants(this.db, {
      memberId: principal.isSuperuser ? undefined : principal.userId,
      q: query.q,
      before: decodeCursor(query.cursor),
      limit: query.limit,
    });
    return toPage(rows, query.limit, toTenantView);
  }

  /** The tenants the caller belongs to (superusers too: only their own), with their roles in each. */
  async listMine(principal: UserPrincipal, query: ListQuery): Promise<Page<MyTenantView>> {
    const rows = await repo.listTenants(this.db, {
      memberId: principal.userId,
      q: query.q,
      before: decodeCursor(query.cursor),
      limit: query.limit,
    });
    const page = toPage(rows, query.limit, (row) => row);
    const roles = await repo.rolesInTenants(
      this.db,
      principal.userId,
      page.data.map((t) => t.id),
    );
    return {
      data: page.data.map((t) => ({ tenant: toTenantView(t), roles: roles.get(t.id) ?? [] })),
      nextCursor: page.nextCursor,
    };
  }

  /** @throws NotFoundError */
  async get(tenantId: string): Promise<TenantView> {
    const tenant = await repo.findTenant(this.db, tenantId);
    if (!tenant) throw new NotFoundError('Tenant not found');
    return toTenantView(tenant);
  }

  /** @throws NotFoundError · ConflictError conflict (slug taken) */
  async update(ctx: AuditContext, tenantId: string, input: UpdateTenant): Promise<TenantView> {
    const values = {
      ...(input.name !== undefined ? { name: input.name.trim() } : {}),
      ...(input.slug !== undefined ? { slug: input.slug } : {}),
    };
    const tenant = await this.db.transaction(async (tx) => {
      const tenant = await repo.updateTenant(tx, tenantId, values, this.clock.now());
      if (!tenant) throw new NotFoundError('Tenant not found');
      await this.audit.record(tx, ctx, {
        tenantId,
        action: 'tenant.updated',
        target: { type: 'tenant', id: tenantId },
        metadata: { changes: values },
      });
      return tenant;
    });
    return toTenantView(tenant);
  }

  /**
   * Deletes the tenant with everything in it (roles, memberships, invitations, keys: foreign keys
   * cascade) in one transaction, and drops every cached permission in it, on every instance.
   * @throws NotFoundError
   */
  async delete(ctx: AuditContext, tenantId: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (!(await repo.deleteTenant(tx, tenantId))) throw new NotFoundError('Tenant not found');
      await this.resolver.publish(tx, `tenant:${tenantId}`);
      // In the tenant's own log, which outlives it (no foreign key), as the record of its end.
      await this.audit.record(tx, ctx, {
        tenantId,
        action: 'tenant.deleted',
        target: { type: 'tenant', id: tenantId },
      });
    });
    this.resolver.apply(`tenant:${tenantId}`);
  }
}
