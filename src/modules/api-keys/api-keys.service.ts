import type { ApiKeyRow } from '../../db/schema/index.js';
import {
  type ApiKeyScope,
  apiKeyPrefix,
  generateApiKey,
  hasApiKeyShape,
  isWellFormedApiKey,
  scopePermissions,
} from '../../domain/api-keys.js';
import type { Clock } from '../../domain/clock.js';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UnauthenticatedError,
  ValidationError,
} from '../../domain/errors.js';
import { idAt } from '../../domain/ids.js';
import { missingPermissions } from '../../domain/permissions.js';
import type { ApiKeyPrincipal, Principal } from '../../domain/principal.js';
import { constantTimeEqual, type SecretHasher } from '../../domain/secrets.js';
import type { Db, Executor } from '../../platform/db.js';
import { decodeCursor, type Page, toPage } from '../../platform/pagination.js';
import type { AuditService } from '../audit/audit.service.js';
import type { AuditContext } from '../audit/audit-context.js';
import { permissionsOfRoles } from '../authz/role-permissions.js';
import type { PermissionService } from '../permissions/permissions.service.js';
import type { ApiKeyCache, ApiKeyState } from './api-key-cache.js';
import * as repo from './api-keys.repo.js';
import { type ApiKeyView, type CreateApiKey, type IssuedApiKey, toApiKeyView } from './api-keys.schemas.js';

/** One answer for every bad key (malformed, unknown, revoked, expired): nothing to tell them apart. */
const invalidKey = () => new UnauthenticatedError('token_invalid', 'The API key is invalid');

/**
 * A tenant's API keys. The secret is generated here, shown once, and stored only as its HMAC;
 * authentication finds the key by that hash through the ApiKeyCache. Revoking and rotating publish
 * `key:<id>` in their transaction, so the old secret fails on the next request on every instance.
 */
export class ApiKeyService {
  /** Each cached key's own view, built once per `lastUsedAt` (see `current`). */
  readonly #ownViews = new WeakMap<ApiKeyState, { lastUsedAt: number | null; view: ApiKeyView }>();

  constructor(
    private readonly db: Db,
    private readonly cache: ApiKeyCache,
    private readonly hasher: SecretHasher,
    private readonly catalogue: PermissionService,
    private readonly clock: Clock,
    private readonly audit: AuditService,
  ) {}

  /**
   * The principal a key secret stands for. Costs no query once the key is cached, except the
   * `last_used_at` write, at most once a minute per key.
   * @throws UnauthenticatedError token_invalid (malformed, unknown, revoked or expired: alike)
   */
  async authenticate(secret: string): Promise<ApiKeyPrincipal> {
    if (!hasApiKeyShape(secret)) throw invalidKey();
    const hash = this.hasher.hash(secret);
    // A key found in memory was well formed when it was loaded (its hash is of this very string),
    // so the checksum, a second SHA-256 per request, only spares the database a typo.
    const state =
      this.cache.peek(hash) ?? (isWellFormedApiKey(secret) ? await this.cache.get(hash) : undefined);
    const now = this.clock.now();
    if (!state || state.revoked || (state.expiresAt !== null && state.expiresAt <= now.getTime()))
      throw invalidKey();
    // Found through an index on the HMAC (which an attacker cannot steer), then the stored hash is
    // compared in constant time, so no step compares secret-derived bytes with an early exit.
    if (!constantTimeEqual(state.keyHash, hash)) throw invalidKey();
    const touching = this.cache.touch(state, now);
    if (touching) {
      await touching.catch(() => {
        // A failed bookkeeping write must not fail the request; the next minute tries again.
      });
    }
    return {
      type: 'api_key',
      keyId: state.id,
      tenantId: state.tenantId,
      permissions: state.permissions,
      isSuperuser: false,
    };
  }

  /**
   * Makes a key: its scope's permissions, narrowed by `permissions`, all held by the caller.
   * @throws ValidationError (expiresAt not in the future; a permission unknown or outside the
   *   scope) · ForbiddenError escalation (a permission the caller does not hold)
   */
  async create(
    ctx: AuditContext,
    principal: Principal,
    tenantId: string,
    input: CreateApiKey,
  ): Promise<IssuedApiKey> {
    const name = input.name.trim();
    if (name.length === 0)
      throw new ValidationError('The name is blank', [{ path: '/name', message: 'must not be blank' }]);
    const now = this.clock.now();
    const expiresAt = input.expiresAt === undefined ? null : new Date(input.expiresAt);
    if (expiresAt && expiresAt.getTime() <= now.getTime()) {
      throw new ValidationError('expiresAt is in the past', [
        { path: '/expiresAt', message: 'must be in the future' },
      ]);
    }
    const secret = generateApiKey();
    return this.db.transaction(async (tx) => {
      const granted = await this.#grant(tx, principal, tenantId, input.scope, input.permissions);
      const row = await repo.insertApiKey(
        tx,
        {
          id: idAt(now),
          tenantId,
          name,
          prefix: apiKeyPrefix(secret),
          keyHash: this.hasher.hash(secret),
          scope: input.scope,
          expiresAt,
          createdAt: now,
          createdBy: principal.type === 'user' ? principal.userId : null,
        },
        granted,
      );
      // A new hash nobody has presented yet: nothing cached can be stale, so nothing to publish.
      // Never the secret, its hash or its prefix: the entry names the key by id.
      await this.audit.record(tx, ctx, {
        tenantId,
        action: 'api_key.created',
        target: { type: 'api_key', id: row.id },
        metadata: {
          name,
          scope: input.scope,
          permissions: granted,
          expiresAt: expiresAt?.toISOString() ?? null,
        },
      });
      return { apiKey: toApiKeyView(row, granted), key: secret };
    });
  }

  async list(
    tenantId: string,
    query: { q?: string | undefined; cursor?: string | undefined; limit: number },
  ): Promise<Page<ApiKeyView>> {
    const rows = await repo.listApiKeys(this.db, tenantId, {
      q: query.q,
      before: decodeCursor(query.cursor),
      limit: query.limit,
    });
    const page = toPage(rows, query.limit, (row) => row);
    return { data: await this.#views(this.db, tenantId, page.data), nextCursor: page.nextCursor };
  }

  /** @throws NotFoundError (also for another tenant's key) */
  /** The calling key's own view, from the cache that just authenticated it (a query only if evicted). */
  async current(principal: ApiKeyPrincipal): Promise<ApiKeyView> {
    const state = this.cache.byId(principal.keyId);
    if (!state) return this.get(principal.tenantId, principal.keyId);
    // A key reading itself in a loop gets the same view each time, but for `lastUsedAt`, which
    // moves at most once a minute: it is built again only then.
    const built = this.#ownViews.get(state);
    if (built && built.lastUsedAt === state.lastUsedAt) return built.view;
    const lastUsedAt = state.lastUsedAt === null ? null : new Date(state.lastUsedAt);
    const view = toApiKeyView({ ...state.row, lastUsedAt }, [...state.permissions].sort());
    this.#ownViews.set(state, { lastUsedAt: state.lastUsedAt, view });
    return view;
  }

  async get(tenantId: string, id: string): Promise<ApiKeyView> {
    const row = await repo.findApiKey(this.db, tenantId, id);
    if (!row) throw new NotFoundError('API key not found');
    return (await this.#views(this.db, tenantId, [row]))[0]!;
  }

  /**
   * Revokes a key: it fails on the next request on every instance. Revoking a revoked key changes
   * nothing (idempotent, the first revocation time is kept).
   * @throws NotFoundError
   */
  async revoke(ctx: AuditContext, tenantId: string, id: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const row = await repo.findApiKey(tx, tenantId, id, { lock: true });
      if (!row) throw new NotFoundError('API key not found');
      if (row.revokedAt) return;
      await repo.updateApiKey(tx, tenantId, id, { revokedAt: this.clock.now() });
      await this.cache.publish(tx, id);
      await this.audit.record(tx, ctx, {
        tenantId,
        action: 'api_key.revoked',
        target: { type: 'api_key', id },
        metadata: { name: row.name },
      });
    });
    this.cache.apply(`key:${id}`);
  }

  /**
   * A new secret for the same key (id, name, permissions kept); the old secret fails at once. The
   * caller must hold what the key holds: a new secret is as good as a new key.
   * @throws NotFoundError · ConflictError api_key_revoked | api_key_expired · ForbiddenError escalation
   */
  async rotate(ctx: AuditContext, principal: Principal, tenantId: string, id: string): Promise<IssuedApiKey> {
    const secret = generateApiKey();
    const issued = await this.db.transaction(async (tx) => {
      const row = await repo.findApiKey(tx, tenantId, id, { lock: true });
      if (!row) throw new NotFoundError('API key not found');
      if (row.revokedAt) throw new ConflictError('api_key_revoked', 'The API key is revoked');
      if (row.expiresAt && row.expiresAt.getTime() <= this.clock.now().getTime())
        throw new ConflictError('api_key_expired', 'The API key has expired');
      const held = (await repo.permissionsOf(tx, tenantId, [id])).get(id) ?? [];
      await this.#assertHolds(tx, principal, tenantId, held);
      const updated = await repo.updateApiKey(tx, tenantId, id, {
        keyHash: this.hasher.hash(secret),
        prefix: apiKeyPrefix(secret),
      });
      await this.cache.publish(tx, id);
      await this.audit.record(tx, ctx, {
        tenantId,
        action: 'api_key.rotated',
        target: { type: 'api_key', id },
        metadata: { name: row.name },
      });
      return { apiKey: toApiKeyView(updated, held), key: secret };
    });
    this.cache.apply(`key:${id}`);
    return issued;
  }

  /**
   * The permissions a new key gets: its scope over the catalogue, narrowed by `wanted`. Read in the
   * caller's transaction, so a permission or a demotion that committed a moment ago is seen.
   */
  async #grant(
    tx: Executor,
    principal: Principal,
    tenantId: string,
    scope: ApiKeyScope,
    wanted: string[] | undefined,
  ): Promise<string[]> {
    const inScope = new Set(scopePermissions(scope, await this.catalogue.keys(tx)));
    let granted = [...inScope];
    if (wanted) {
      const keys = [...new Set(wanted)];
      const outside = keys.filter((key) => !inScope.has(key)).sort();
      if (outside.length > 0) {
        throw new ValidationError(`Not within the ${scope} scope: ${outside.join(', ')}`, [
          {
            path: '/permissions',
            message: `holds keys that are unknown or outside the ${scope} scope: ${outside.join(', ')}`,
          },
        ]);
      }
      granted = keys;
    }
    await this.#assertHolds(tx, principal, tenantId, granted);
    return granted.sort();
  }

  /** A key never holds more than who made (or re-keyed) it. @throws ForbiddenError escalation */
  async #assertHolds(tx: Executor, principal: Principal, tenantId: string, keys: string[]): Promise<void> {
    const missing = missingPermissions(await this.#held(tx, principal, tenantId), keys);
    if (missing.length > 0) {
      throw new ForbiddenError(
        'escalation',
        `A key cannot hold permissions you do not hold yourself: ${missing.join(', ')}`,
      );
    }
  }

  /** What the caller holds in the tenant now: a superuser everything, a key its own set. */
  async #held(tx: Executor, principal: Principal, tenantId: string): Promise<ReadonlySet<string>> {
    if (principal.type === 'api_key')
      return principal.tenantId === tenantId ? principal.permissions : new Set();
    const catalogue = await this.catalogue.keys(tx);
    if (principal.isSuperuser) return new Set(catalogue);
    const held = await repo.rolesOfUser(tx, tenantId, principal.userId);
    return permissionsOfRoles(tx, tenantId, held, catalogue);
  }

  async #views(tx: Executor, tenantId: string, rows: ApiKeyRow[]): Promise<ApiKeyView[]> {
    const permissions = await repo.permissionsOf(
      tx,
      tenantId,
      rows.map((r) => r.id),
    );
    return rows.map((row) => toApiKeyView(row, permissions.get(row.id) ?? []));
  }
}
