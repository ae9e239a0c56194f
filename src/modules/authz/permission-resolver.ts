import { and, eq, inArray } from 'drizzle-orm';
import {
  memberRoles,
  memberships,
  permissions,
  rolePermissions,
  roles,
  tenants,
} from '../../db/schema/index.js';
import { type BuiltInRole, builtInRolePermissions } from '../../domain/permissions.js';
import { type Database, type Db, type Executor, notify } from '../../platform/db.js';

export const PERMISSIONS_CHANNEL = 'tessera_permissions';

/** What one principal may do in one tenant. */
export interface TenantAccess {
  tenantId: string;
  permissions: ReadonlySet<string>;
  /** Holds the built-in owner role (superusers count as owners). */
  isOwner: boolean;
}

interface Entry {
  access: TenantAccess | null;
  loadedAt: number;
}

/**
 * A change that alters what someone may do, published in the transaction that makes it:
 * - `member:<tenantId>:<userId>`: a membership or its roles changed
 * - `tenant:<tenantId>`: a role was renamed or its permissions changed, a role or the tenant went
 * - `catalogue`: a permission was added or removed (owner and admin hold every one)
 */
export type PermissionChange = `member:${string}:${string}` | `tenant:${string}` | 'catalogue';

/**
 * Resolves a user's permissions in a tenant from their roles, and keeps the answer in memory so the
 * permission check on every tenant request costs no query. Changes are published with NOTIFY
 * inside the transaction that makes them (`publish`), so every instance drops what it cached once
 * the change commits; `apply` drops this instance's entry at once after the commit. Entries also age
 * out after `maxAgeMs`, and everything is dropped when the listener (re)connects.
 */
export class PermissionResolver {
  /**
   * Entries by tenant, then user: a lookup hashes the two ids as they came rather than a key joined
   * from them per request, and a tenant's change drops its map in one step instead of a scan of
   * every entry.
   */
  readonly #members = new Map<string, Map<string, Entry>>();
  #size = 0;
  #catalogue: Promise<string[]> | undefined;
  #generation = 0;
  readonly #observers: Array<(change: PermissionChange) => void> = [];

  constructor(
    private readonly db: Db,
    private readonly maxEntries = 200_000,
    private readonly maxAgeMs = 60_000,
  ) {}

  subscribe(database: Database): Promise<() => Promise<void>> {
    return database.listen(
      PERMISSIONS_CHANNEL,
      (payload) => this.apply(payload as PermissionChange),
      () => this.clear(),
    );
  }

  /** Every permission key in the catalogue, system and application. */
  catalogue(): Promise<string[]> {
    this.#catalogue ??= this.db
      .select({ key: permissions.key })
      .from(permissions)
      .then((rows) => rows.map((r) => r.key).sort())
      .catch((error: unknown) => {
        this.#catalogue = undefined;
        throw error;
      });
    return this.#catalogue;
  }

  /** The user's access in the tenant, or null when they are not a member. */
  async forMember(tenantId: string, userId: string): Promise<TenantAccess | null> {
    const now = Date.now();
    const cached = this.#members.get(tenantId)?.get(userId);
    if (cached && now - cached.loadedAt < this.maxAgeMs) return cached.access;
    const generation = this.#generation;
    const access = await this.#load(tenantId, userId);
    if (generation === this.#generation) this.#store(tenantId, userId, { access, loadedAt: now });
    return access;
  }

  /** A superuser holds everything in any tenant that exists. */
  async forSuperuser(tenantId: string): Promise<TenantAccess | null> {
    const [tenant] = await this.db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, tenantId));
    if (!tenant) return null;
    return { tenantId, permissions: new Set(await this.catalogue()), isOwner: true };
  }

  /** Publishes a change inside the caller's transaction; heard by every instance on commit. */
  async publish(tx: Executor, change: PermissionChange): Promise<void> {
    await notify(tx, PERMISSIONS_CHANNEL, change);
  }

  /**
   * Another cache that follows permission changes (API keys: a deleted tenant takes its keys, a
   * catalogue change their permissions) is told of each change applied here, from a notification
   * or locally after commit; a reset (listener reconnect) arrives as `catalogue`.
   */
  observe(observer: (change: PermissionChange) => void): void {
    this.#observers.push(observer);
  }

  /** Drops what this instance cached for a change; call after the transaction has committed. */
  apply(change: PermissionChange): void {
    this.#generation++;
    if (change === 'catalogue') {
      this.clear();
      return;
    }
    const [kind, tenantId, userId] = change.split(':');
    if (kind === 'member' && tenantId && userId) this.#drop(tenantId, userId);
    else if (kind === 'tenant' && tenantId) this.#dropTenant(tenantId);
    for (const observer of this.#observers) observer(change);
  }

  clear(): void {
    this.#generation++;
    this.#catalogue = undefined;
    this.#members.clear();
    this.#size = 0;
    for (const observer of this.#observers) observer('catalogue');
  }

  async #load(tenantId: string, userId: string): Promise<TenantAccess | null> {
    const held = await this.db
      .select({ roleId: roles.id, builtIn: roles.builtIn })
      .from(memberships)
      .leftJoin(
        memberRoles,
        and(eq(memberRoles.tenantId, memberships.tenantId), eq(memberRoles.userId, memberships.userId)),
      )
      .leftJoin(roles, and(eq(roles.tenantId, memberRoles.tenantId), eq(roles.id, memberRoles.roleId)))
      .where(and(eq(memberships.tenantId, tenantId), eq(memberships.userId, userId)));
    if (held.length === 0) return null;

    const granted = new Set<string>();
    const builtIns = held.map((r) => r.builtIn).filter((b): b is BuiltInRole => b !== null);
    if (builtIns.length > 0) {
      const catalogue = await this.catalogue();
      for (const role of builtIns)
        for (const key of builtInRolePermissions(role, catalogue)) granted.add(key);
    }
    const custom = held.filter((r) => r.roleId !== null && r.builtIn === null).map((r) => r.roleId as string);
    if (custom.length > 0) {
      const rows = await this.db
        .select({ key: rolePermissions.permissionKey })
        .from(rolePermissions)
        .where(and(eq(rolePermissions.tenantId, tenantId), inArray(rolePermissions.roleId, custom)));
      for (const row of rows) granted.add(row.key);
    }
    return { tenantId, permissions: granted, isOwner: builtIns.includes('owner') };
  }

  /**
   * Both maps keep the order answers were stored in (a stored one moves to the end), so past
   * `maxEntries` the oldest answer of the tenant least recently stored into goes.
   */
  #store(tenantId: string, userId: string, entry: Entry): void {
    const users = this.#members.get(tenantId) ?? new Map<string, Entry>();
    this.#members.delete(tenantId);
    this.#members.set(tenantId, users);
    if (!users.delete(userId)) this.#size++;
    users.set(userId, entry);
    if (this.#size > this.maxEntries) {
      const [oldestTenant, oldestUsers] = this.#members.entries().next().value as [
        string,
        Map<string, Entry>,
      ];
      this.#drop(oldestTenant, oldestUsers.keys().next().value as string);
    }
  }

  #drop(tenantId: string, userId: string): void {
    const users = this.#members.get(tenantId);
    if (!users?.delete(userId)) return;
    this.#size--;
    if (users.size === 0) this.#members.delete(tenantId);
  }

  #dropTenant(tenantId: string): void {
    const users = this.#members.get(tenantId);
    if (!users) return;
    this.#size -= users.size;
    this.#members.delete(tenantId);
  }
}
