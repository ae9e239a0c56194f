import type { RoleRow } from '../../db/schema/index.js';
import type { Clock } from '../../domain/clock.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors.js';
import { idAt } from '../../domain/ids.js';
import {
  BUILT_IN_ROLES,
  type BuiltInRole,
  builtInRolePermissions,
  missingPermissions,
} from '../../domain/permissions.js';
import type { Principal } from '../../domain/principal.js';
import type { Db, Executor } from '../../platform/db.js';
import { decodeCursor, type Page, toPage } from '../../platform/pagination.js';
import type { AuditService } from '../audit/audit.service.js';
import type { AuditContext } from '../audit/audit-context.js';
import type { PermissionResolver } from '../authz/permission-resolver.js';
import { permissionsOfRoles } from '../authz/role-permissions.js';
import type { PermissionService } from '../permissions/permissions.service.js';
import * as repo from './roles.repo.js';
import { type CreateRole, type RoleView, toRoleView, type UpdateRole } from './roles.schemas.js';

/**
 * A tenant's roles. Built-in roles (owner, admin, member) hold their permissions by rule and never
 * change; custom roles hold what role_permissions lists. Every change to what a role grants
 * publishes `tenant:<id>` in its transaction, so members get the new permissions on their next
 * request on every instance.
 */
export class RoleService {
  constructor(
    private readonly db: Db,
    private readonly resolver: PermissionResolver,
    private readonly catalogue: PermissionService,
    private readonly clock: Clock,
    private readonly audit: AuditService,
  ) {}

  async list(
    tenantId: string,
    query: { q?: string | undefined; cursor?: string | undefined; limit: number },
  ): Promise<Page<RoleView>> {
    const rows = await repo.listRoles(this.db, tenantId, {
      q: query.q,
      before: decodeCursor(query.cursor),
      limit: query.limit,
    });
    const page = toPage(rows, query.limit, (row) => row);
    return { data: await this.#views(this.db, tenantId, page.data), nextCursor: page.nextCursor };
  }

  /** @throws NotFoundError (also for another tenant's role) */
  async get(tenantId: string, roleId: string): Promise<RoleView> {
    const row = await repo.findRole(this.db, tenantId, roleId);
    if (!row) throw new NotFoundError('Role not found');
    return this.#view(this.db, row);
  }

  /**
   * Creates a custom role.
   * @throws ConflictError conflict (name taken or a built-in role's name) · ValidationError (unknown
   * permission) · ForbiddenError escalation (a permission the caller does not hold)
   */
  async create(
    ctx: AuditContext,
    principal: Principal,
    tenantId: string,
    input: CreateRole,
  ): Promise<RoleView> {
    const name = checkName(input.name);
    const keys = unique(input.permissions);
    const now = this.clock.now();
    return this.db.transaction(async (tx) => {
      await this.#checkGrant(tx, principal, tenantId, keys, keys);
      const row = await repo.insertRole(tx, {
        id: idAt(now),
        tenantId,
        name,
        description: input.description ?? '',
        builtIn: null,
        createdAt: now,
        updatedAt: now,
      });
      await repo.replaceRolePermissions(tx, tenantId, row.id, keys);
      // Nobody holds a new role yet: nothing cached can be stale, so nothing to publish.
      await this.audit.record(tx, ctx, {
        tenantId,
        action: 'role.created',
        target: { type: 'role', id: row.id },
        metadata: { name, permissions: [...keys].sort() },
      });
      return toRoleView(row, keys.sort());
    });
  }

  /**
   * Renames, describes or re-permissions a custom role.
   * @throws NotFoundError · ConflictError built_in_role | conflict · ValidationError ·
   * ForbiddenError escalation
   */
  async update(
    ctx: AuditContext,
    principal: Principal,
    tenantId: string,
    roleId: string,
    input: UpdateRole,
    action = 'role.updated',
  ): Promise<RoleView> {
    const name = input.name === undefined ? undefined : checkName(input.name);
    const keys = input.permissions === undefined ? undefined : unique(input.permissions);
    const view = await this.db.transaction(async (tx) => {
      const role = await this.#customRole(tx, tenantId, roleId);
      const current = (await repo.storedPermissions(tx, tenantId, [role.id])).get(role.id) ?? [];
      if (keys) await this.#checkGrant(tx, principal, tenantId, keys, added(current, keys));
      const row = await repo.updateRole(
        tx,
        tenantId,
        roleId,
        {
          ...(name !== undefined ? { name } : {}),
          ...(input.description !== undefined ? { description: input.description } : {}),
        },
        this.clock.now(),
      );
      if (keys) await repo.replaceRolePermissions(tx, tenantId, roleId, keys);
      // A rename too: members pages name roles from RoleNames, which follows these changes.
      if (keys || name !== undefined) await this.resolver.publish(tx, `tenant:${tenantId}`);
      await this.audit.record(tx, ctx, {
        tenantId,
        action,
        target: { type: 'role', id: roleId },
        metadata: {
          ...(name !== undefined ? { name } : {}),
          ...(input.description !== undefined ? { description: input.description } : {}),
          ...(keys ? { permissions: [...keys].sort(), previousPermissions: current } : {}),
        },
      });
      return toRoleView(row, keys ? keys.sort() : current);
    });
    if (keys || name !== undefined) this.resolver.apply(`tenant:${tenantId}`);
    return view;
  }

  /** Replaces a custom role's permissions. @throws as `update` */
  setPermissions(
    ctx: AuditContext,
    principal: Principal,
    tenantId: string,
    roleId: string,
    permissions: string[],
  ): Promise<RoleView> {
    return this.update(ctx, principal, tenantId, roleId, { permissions }, 'role.permissions_replaced');
  }

  /** @throws NotFoundError · ConflictError built_in_role | role_in_use */
  async delete(ctx: AuditContext, tenantId: string, roleId: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const role = await this.#customRole(tx, tenantId, roleId);
      // The row lock taken above makes a concurrent assignment wait for us (its foreign key check
      // locks the role row); one that committed before our check is seen here, and one that slipped
      // in between still fails our DELETE on member_roles_role_fkey (mapped to the same 409).
      if (await repo.isRoleAssigned(tx, tenantId, roleId)) throw repo.roleInUse();
      await repo.deleteRole(tx, tenantId, roleId);
      await this.resolver.publish(tx, `tenant:${tenantId}`);
      await this.audit.record(tx, ctx, {
        tenantId,
        action: 'role.deleted',
        target: { type: 'role', id: roleId },
        metadata: { name: role.name },
      });
    });
    this.resolver.apply(`tenant:${tenantId}`);
  }

  /** The role, locked for the rest of the transaction; built-in roles are refused. */
  async #customRole(tx: Executor, tenantId: string, roleId: string): Promise<RoleRow> {
    const role = await repo.findRole(tx, tenantId, roleId, { lock: true });
    if (!role) throw new NotFoundError('Role not found');
    if (role.builtIn !== null)
      throw new ConflictError('built_in_role', `${role.name} is a built-in role and cannot be changed`);
    return role;
  }

  /**
   * Every key must be in the catalogue (400), and the caller must hold every key the change adds
   * (403 escalation). Only added keys count: keeping or removing a key grants nobody anything, and
   * checking the whole set would leave a role holding a key the caller lacks impossible to trim.
   * The caller's permissions are read in this transaction, not from the cache, so a demotion that
   * committed a moment ago is already seen.
   */
  async #checkGrant(
    tx: Executor,
    principal: Principal,
    tenantId: string,
    keys: string[],
    adding: string[],
  ): Promise<void> {
    const known = await this.catalogue.existingKeys(tx, keys);
    const unknown = keys.filter((key) => !known.has(key));
    if (unknown.length > 0) {
      throw new ValidationError(`Unknown permission: ${unknown.sort().join(', ')}`, [
        { path: '/permissions', message: `holds keys that are not in the catalogue: ${unknown.join(', ')}` },
      ]);
    }
    if (adding.length === 0) return;
    const missing = missingPermissions(await this.#held(tx, principal, tenantId), adding);
    if (missing.length > 0) {
      throw new ForbiddenError(
        'escalation',
        `You cannot grant permissions you do not hold yourself: ${missing.join(', ')}`,
      );
    }
  }

  /**
   * What the caller holds in the tenant. Superusers hold everything; an API key its own permissions
   * (in its own tenant: the guard lets it nowhere else).
   */
  async #held(tx: Executor, principal: Principal, tenantId: string): Promise<ReadonlySet<string>> {
    if (principal.type === 'api_key')
      return principal.tenantId === tenantId ? principal.permissions : new Set<string>();
    const catalogue = await this.catalogue.keys(tx);
    if (principal.isSuperuser) return new Set(catalogue);
    const held = await repo.memberRolesOf(tx, tenantId, principal.userId);
    return permissionsOfRoles(tx, tenantId, held, catalogue);
  }

  async #view(tx: Executor, row: RoleRow): Promise<RoleView> {
    const [view] = await this.#views(tx, row.tenantId, [row]);
    return view!;
  }

  async #views(tx: Executor, tenantId: string, rows: RoleRow[]): Promise<RoleView[]> {
    const custom = rows.filter((r) => r.builtIn === null).map((r) => r.id);
    const stored = await repo.storedPermissions(tx, tenantId, custom);
    const catalogue = rows.some((r) => r.builtIn !== null) ? await this.resolver.catalogue() : [];
    return rows.map((row) =>
      toRoleView(
        row,
        row.builtIn !== null
          ? builtInRolePermissions(row.builtIn as BuiltInRole, catalogue).sort()
          : (stored.get(row.id) ?? []),
      ),
    );
  }
}

/**
 * Names are trimmed; the built-in roles' names are taken in every tenant (also case-insensitively,
 * as the unique index compares them).
 * @throws ValidationError (blank) · ConflictError conflict (a built-in role's name)
 */
function checkName(raw: string): string {
  const name = raw.trim();
  if (name.length === 0)
    throw new ValidationError('The name is blank', [{ path: '/name', message: 'must not be blank' }]);
  if ((BUILT_IN_ROLES as readonly string[]).includes(name.toLowerCase()))
    throw new ConflictError('conflict', `${name} is the name of a built-in role`);
  return name;
}

function unique(keys: string[]): string[] {
  return [...new Set(keys)];
}

function added(current: string[], next: string[]): string[] {
  const had = new Set(current);
  return next.filter((key) => !had.has(key));
}
