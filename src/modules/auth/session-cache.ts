import { eq } from 'drizzle-orm';
import { sessions, type UserRow, users } from '../../db/schema/index.js';
import type { Database, Db } from '../../platform/db.js';

export const SESSIONS_CHANNEL = 'tessera_sessions';

/**
 * What an access token's session says about it. The session's own expiry is not kept: it slides to
 * now + REFRESH_TOKEN_TTL whenever a token is issued, and config requires REFRESH_TOKEN_TTL >=
 * ACCESS_TOKEN_TTL, so no unexpired access token can outlive its session.
 */
export interface SessionState {
  userId: string;
  active: boolean;
  isSuperuser: boolean;
  /** The user's row as loaded with the session: GET /v1/users/me answers from it. */
  user: UserRow;
}

interface Entry extends SessionState {
  loadedAt: number;
}

/**
 * Whether a session (and its user) is still good, read from the database once and then kept in
 * memory, so checking an access token costs no query. Ending a session publishes `session:<id>`
 * on SESSIONS_CHANNEL (LISTEN/NOTIFY), and any change to a users row publishes `user:<id>` (a
 * trigger, migration 0008, so no write path can forget it); each instance drops the entries and
 * the next request reads the database again. Writers also drop this instance's entries right after
 * their commit, so their own next read never waits for the notification. Entries also age out after
 * `maxAgeMs` as a backstop, and the whole cache is dropped whenever the listener (re)connects,
 * since notifications may have been missed while it was away.
 */
export class SessionCache {
  readonly #entries = new Map<string, Entry>();
  /** Bumped by every invalidation; a load that started before one does not store its result. */
  #generation = 0;

  constructor(
    private readonly db: Db,
    private readonly maxEntries = 100_000,
    private readonly maxAgeMs = 60_000,
  ) {}

  async subscribe(database: Database): Promise<() => Promise<void>> {
    return database.listen(
      SESSIONS_CHANNEL,
      (payload) => this.apply(payload),
      () => this.clear(),
    );
  }

  async get(sessionId: string): Promise<SessionState | undefined> {
    const now = Date.now();
    const cached = this.#entries.get(sessionId);
    if (cached && now - cached.loadedAt < this.maxAgeMs) return cached;
    const generation = this.#generation;
    const [row] = await this.db
      .select({ revokedAt: sessions.revokedAt, user: users })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(eq(sessions.id, sessionId));
    if (!row) return undefined;
    const entry: Entry = {
      userId: row.user.id,
      active: row.revokedAt === null && row.user.isActive,
      isSuperuser: row.user.isSuperuser,
      user: row.user,
      loadedAt: now,
    };
    if (generation === this.#generation) this.#store(sessionId, entry);
    return entry;
  }

  /** The session's state when it exists, belongs to `userId`, is not revoked and its user is active. */
  async isLive(sessionId: string, userId: string): Promise<SessionState | undefined> {
    const state = await this.get(sessionId);
    return state?.active && state.userId === userId ? state : undefined;
  }

  /** Handles one notification payload: `session:<id>` or `user:<id>`. */
  apply(payload: string): void {
    const [kind, id] = payload.split(':');
    if (kind === 'session' && id) this.invalidateSession(id);
    else if (kind === 'user' && id) this.invalidateUser(id);
  }

  invalidateSession(sessionId: string): void {
    this.#generation++;
    this.#entries.delete(sessionId);
  }

  invalidateUser(userId: string): void {
    this.#generation++;
    for (const [sessionId, entry] of this.#entries)
      if (entry.userId === userId) this.#entries.delete(sessionId);
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
  }

  #store(sessionId: string, entry: Entry): void {
    this.#entries.delete(sessionId);
    this.#entries.set(sessionId, entry);
    // Maps iterate in insertion order, so the first key is the least recently loaded.
    if (this.#entries.size > this.maxEntries)
      this.#entries.delete(this.#entries.keys().next().value as string);
  }
}
