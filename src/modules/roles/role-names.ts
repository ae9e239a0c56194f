import { asc, eq } from 'drizzle-orm';
import { roles } from '../../db/schema/index.js';
import type { Db } from '../../platform/db.js';
import type { PermissionChange } from '../authz/permission-resolver.js';
import type { RoleRef } from '../tenants/tenants.schemas.js';

/**
 * A role as views list it, and its place when the tenant's roles are listed by name (as the
 * database sorts). The view is made once per load and shared by every page that names the role
 * (frozen: a page only serialises it), so a members page makes no object per role it names.
 */
export interface RoleName {
  ref: Readonly<RoleRef>;
  rank: number;
}

interface Entry {
  names: Map<string, RoleName>;
  loadedAt: number;
}

/**
 * Each tenant's role names by role id, kept in memory so a members page reads only the ids of the
 * roles its members hold and names them from here: naming them in SQL (a join and a JSON array per
 * member) was two thirds of the database's work for a page.
 *
 * Follows the PermissionResolver's changes: a rename or a deletion publishes `tenant:<id>`, which
 * drops that tenant here on every instance; a reset (`catalogue`, as on a listener reconnect)
 * drops everything. A role created since the tenant was loaded is an unknown id, which loads the
 * tenant again. Entries also age out after `maxAgeMs`, as a backstop.
 */
export class RoleNames {
  readonly #byTenant = new Map<string, Entry>();
  #generation = 0;

  constructor(
    private readonly db: Db,
    private readonly maxTenants = 10_000,
    private readonly maxAgeMs = 60_000,
  ) {}

  /** The names of `roleIds` in the tenant; an id the tenant does not have is left out. */
  async of(tenantId: string, roleIds: Iterable<string>): Promise<Map<string, RoleName>> {
    const cached = this.#byTenant.get(tenantId);
    if (cached && Date.now() - cached.loadedAt < this.maxAgeMs && every(roleIds, cached.names)) {
      return cached.names;
    }
    return this.#load(tenantId);
  }

  apply(change: PermissionChange): void {
    const [kind, tenantId] = change.split(':');
    if (change === 'catalogue') this.clear();
    else if (kind === 'tenant' && tenantId) {
      this.#generation++;
      this.#byTenant.delete(tenantId);
    }
  }

  clear(): void {
    this.#generation++;
    this.#byTenant.clear();
  }

  async #load(tenantId: string): Promise<Map<string, RoleName>> {
    const loadedAt = Date.now();
    const generation = this.#generation;
    const rows = await this.db
      .select({ id: roles.id, name: roles.name })
      .from(roles)
      .where(eq(roles.tenantId, tenantId))
      .orderBy(asc(roles.name), asc(roles.id));
    const names = new Map(rows.map((r, rank) => [r.id, { ref: Object.freeze(r), rank }]));
    // A change heard while loading may be older than what was read: not kept, read again next time.
    if (generation === this.#generation) {
      this.#byTenant.delete(tenantId);
      this.#byTenant.set(tenantId, { names, loadedAt });
      // Maps iterate in insertion order: the first tenant is the least recently loaded.
      if (this.#byTenant.size > this.maxTenants) this.#byTenant.delete(this.#byTenant.keys().next().value!);
    }
    return names;
  }
}

function every(ids: Iterable<string>, names: Map<string, RoleName>): boolean {
  for (const id of ids) if (!names.has(id)) return false;
  return true;
}
