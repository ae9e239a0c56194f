import { and, eq, isNull, lt, or } from 'drizzle-orm';
import { type ApiKeyRow, apiKeyPermissions, apiKeys } from '../../db/schema/index.js';
import type { Database, Db, Executor } from '../../platform/db.js';
import { notify } from '../../platform/db.js';
import type { PermissionChange } from '../authz/permission-resolver.js';

export const API_KEYS_CHANNEL = 'tessera_api_keys';

/** What authentication needs to know about a key, found by the HMAC of its secret. */
export interface ApiKeyState {
  id: string;
  tenantId: string;
  /** The stored HMAC, compared in constant time with the presented one. */
  keyHash: string;
  permissions: ReadonlySet<string>;
  expiresAt: number | null;
  /** Revoked keys are kept (so the next lookup is answered from memory too), never accepted. */
  revoked: boolean;
  /** When this instance last wrote (or read) `last_used_at`, in ms. */
  lastUsedAt: number | null;
  /**
   * The row as loaded, for the key's own view (GET /v1/auth/principal). `createdBy` may lag a
   * deleted creator by up to the entry's age; everything that decides access is kept exact.
   */
  row: ApiKeyRow;
}

interface Entry {
  state: ApiKeyState;
  loadedAt: number;
}

/** How often `last_used_at` is written per key: at most once a minute, not per request. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Key lookups by hash, kept in memory so an API-key request costs no query once its key is cached.
 * A revoke or rotate publishes `key:<id>` on API_KEYS_CHANNEL inside its transaction, so every
 * instance drops the entry when it commits, and `apply` drops this instance's entry at once after
 * the commit. A deleted tenant or a catalogue change (the PermissionResolver passes its changes on
 * to `applyPermissionChange`) drops the entries it affects. Entries age out after `maxAgeMs` as a
 * backstop, and everything is dropped when a listener (re)connects, since notifications may have
 * been missed meanwhile.
 */
export class ApiKeyCache {
  readonly #byHash = new Map<string, Entry>();
  readonly #hashById = new Map<string, string>();
  #generation = 0;

  constructor(
    private readonly db: Db,
    private readonly maxEntries = 100_000,
    private readonly maxAgeMs = 60_000,
  ) {}

  subscribe(database: Database): Promise<() => Promise<void>> {
    return database.listen(
      API_KEYS_CHANNEL,
      (payload) => this.apply(payload),
      () => this.clear(),
    );
  }

  /** The key with this hash if this instance holds it, without a query. */
  peek(keyHash: string): ApiKeyState | undefined {
    const cached = this.#byHash.get(keyHash);
    return cached && Date.now() - cached.loadedAt < this.maxAgeMs ? cached.state : undefined;
  }

  /** The key with this hash, or undefined when there is none. */
  async get(keyHash: string): Promise<ApiKeyState | undefined> {
    const cached = this.peek(keyHash);
    if (cached) return cached;
    const now = Date.now();
    const generation = this.#generation;
    const state = await this.#load(keyHash);
    if (state && generation === this.#generation) this.#store(keyHash, { state, loadedAt: now });
    return state;
  }

  /** The cached state of key `id`, if this instance holds it. */
  byId(id: string): ApiKeyState | undefined {
    const hash = this.#hashById.get(id);
    return hash === undefined ? undefined : this.#byHash.get(hash)?.state;
  }

  /**
   * Records a use: writes `last_used_at` when this instance has not seen it written in the last
   * minute. The UPDATE's own condition keeps other instances from writing it more often too.
   * Returns the write when there is one; nothing (no promise to wait for) on most requests.
   */
  touch(state: ApiKeyState, now: Date): Promise<void> | undefined {
    const at = now.getTime();
    if (state.lastUsedAt !== null && at - state.lastUsedAt < LAST_USED_RESOLUTION_MS) return undefined;
    state.lastUsedAt = at;
    const threshold = new Date(at - LAST_USED_RESOLUTION_MS);
    return this.db
      .update(apiKeys)
      .set({ lastUsedAt: now })
      .where(and(eq(apiKeys.id, state.id), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, threshold))))
      .then(() => undefined);
  }

  /** Publishes a change to a key inside the caller's transaction; heard by every instance on commit. */
  async publish(tx: Executor, keyId: string): Promise<void> {
    await notify(tx, API_KEYS_CHANNEL, `key:${keyId}`);
  }

  /** Handles `key:<id>`; call after the transaction has committed, as well as on notification. */
  apply(payload: string): void {
    const [kind, id] = payload.split(':');
    if (kind !== 'key' || !id) return;
    this.#generation++;
    const hash = this.#hashById.get(id);
    if (hash !== undefined) this.#drop(hash);
  }

  /** A deleted tenant takes its keys; a catalogue change may take permissions from keys. */
  applyPermissionChange(change: PermissionChange): void {
    if (change === 'catalogue') {
      this.clear();
      return;
    }
    const [kind, tenantId] = change.split(':');
    if (kind !== 'tenant' || !tenantId) return;
    this.#generation++;
    for (const [hash, entry] of this.#byHash) if (entry.state.tenantId === tenantId) this.#drop(hash);
  }

  clear(): void {
    this.#generation++;
    this.#byHash.clear();
    this.#hashById.clear();
  }

  async #load(keyHash: string): Promise<ApiKeyState | undefined> {
    const rows = await this.db
      .select({ key: apiKeys, permission: apiKeyPermissions.permissionKey })
      .from(apiKeys)
      .leftJoin(
        apiKeyPermissions,
        and(eq(apiKeyPermissions.tenantId, apiKeys.tenantId), eq(apiKeyPermissions.apiKeyId, apiKeys.id)),
      )
      .where(eq(apiKeys.keyHash, keyHash));
    const [first] = rows;
    if (!first) return undefined;
    const key = first.key;
    return {
      id: key.id,
      tenantId: key.tenantId,
      keyHash: key.keyHash,
      permissions: new Set(rows.map((r) => r.permission).filter((p): p is string => p !== null)),
      expiresAt: key.expiresAt?.getTime() ?? null,
      revoked: key.revokedAt !== null,
      lastUsedAt: key.lastUsedAt?.getTime() ?? null,
      row: key,
    };
  }

  #drop(hash: string): void {
    const entry = this.#byHash.get(hash);
    this.#byHash.delete(hash);
    if (entry) this.#hashById.delete(entry.state.id);
  }

  #store(hash: string, entry: Entry): void {
    const previous = this.#hashById.get(entry.state.id);
    if (previous !== undefined && previous !== hash) this.#drop(previous);
    this.#byHash.delete(hash);
    this.#byHash.set(hash, entry);
    this.#hashById.set(entry.state.id, hash);
    // Maps iterate in insertion order, so the first key is the least recently loaded.
    if (this.#byHash.size > this.maxEntries) this.#drop(this.#byHash.keys().next().value as string);
  }
}
