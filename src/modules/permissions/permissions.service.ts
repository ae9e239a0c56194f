import type { Clock } from '../../domain/clock.js';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors.js';
import { isSystemPermission, PERMISSION_KEY } from '../../domain/permissions.js';
import type { Db, Executor } from '../../platform/db.js';
import type { Page } from '../../platform/pagination.js';
import type { PermissionResolver } from '../authz/permission-resolver.js';
import * as repo from './permissions.repo.js';
import {
  type CreatePermission,
  type PermissionListQuery,
  type PermissionView,
  toPermissionView,
} from './permissions.schemas.js';

/** Cursors are the last key of a page, opaque to clients and checked on the way back in. */
function encodeKeyCursor(key: string): string {
  return Buffer.from(`k1:${key}`).toString('base64url');
}

function decodeKeyCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const key = decoded.startsWith('k1:') ? decoded.slice(3) : '';
  if (!PERMISSION_KEY.test(key))
    throw new ValidationError('The cursor is invalid', [{ path: '/cursor', message: 'is not a cursor' }]);
  return key;
}

/**
 * The permission catalogue. System keys are fixed; superusers add application keys that tenants
 * put in their roles. Adding or removing a key changes what `owner` and `admin` hold (by rule), so
 * both publish `catalogue`, which drops every cached access on every instance.
 */
export class PermissionService {
  constructor(
    private readonly db: Db,
    private readonly resolver: PermissionResolver,
    private readonly clock: Clock,
  ) {}

  async list(query: PermissionListQuery): Promise<Page<PermissionView>> {
    const rows = await repo.listPermissions(this.db, {
      q: query.q,
      after: decodeKeyCursor(query.cursor),
      limit: query.limit,
    });
    const more = rows.length > query.limit;
    const data = more ? rows.slice(0, query.limit) : rows;
    const last = data[data.length - 1];
    return { data: data.map(toPermissionView), nextCursor: more && last ? encodeKeyCursor(last.key) : null };
  }

  /** @throws NotFoundError */
  async get(key: string): Promise<PermissionView> {
    const row = await repo.findPermission(this.db, key);
    if (!row) throw new NotFoundError('Permission not found');
    return toPermissionView(row);
  }

  /** The keys among `keys` that the catalogue holds, read in the caller's transaction. */
  existingKeys(tx: Executor, keys: string[]): Promise<Set<string>> {
    return repo.existingKeys(tx, keys);
  }

  /** Every key of the catalogue, read in the caller's transaction (not the resolver's cache). */
  keys(tx: Executor): Promise<string[]> {
    return repo.allKeys(tx);
  }

  /** Adds an application permission. @throws ConflictError conflict (the key exists) */
  async create(input: CreatePermission): Promise<PermissionView> {
    const now = this.clock.now();
    const row = await this.db.transaction(async (tx) => {
      const created = await repo.insertPermission(tx, {
        key: input.key,
        description: input.description,
        system: false,
        createdAt: now,
        updatedAt: now,
      });
      await this.resolver.publish(tx, 'catalogue');
      return created;
    });
    this.resolver.apply('catalogue');
    return toPermissionView(row);
  }

  /** @throws NotFoundError · ConflictError system_permission */
  async update(key: string, input: { description: string }): Promise<PermissionView> {
    this.#assertNotSystem(key);
    const row = await repo.updatePermission(this.db, key, input, this.clock.now());
    if (!row) throw new NotFoundError('Permission not found');
    return toPermissionView(row);
  }

  /**
   * Removes an application permission from the catalogue and from every role that held it.
   * @throws NotFoundError · ConflictError system_permission
   */
  async delete(key: string): Promise<void> {
    this.#assertNotSystem(key);
    await this.db.transaction(async (tx) => {
      if (!(await repo.deletePermission(tx, key))) throw new NotFoundError('Permission not found');
      await this.resolver.publish(tx, 'catalogue');
    });
    this.resolver.apply('catalogue');
  }

  #assertNotSystem(key: string): void {
    // The migration seeds exactly these keys with system=true; the code's list is the same set.
    if (isSystemPermission(key))
      throw new ConflictError('system_permission', `${key} is a system permission and cannot be changed`);
  }
}
