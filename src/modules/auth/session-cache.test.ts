import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, TestClock } from '../../../test/app.js';
import { createSignedInUser, createUser, type SignedIn, signIn } from '../../../test/factories.js';
import { sessions } from '../../db/schema/index.js';
import { SessionCache } from './session-cache.js';

/**
 * The cache on its own. Rows are changed behind its back (no NOTIFY), so a test sees whether the
 * cache answered from memory or went back to the database.
 */
let t: TestApp;
const clock = new TestClock();
beforeAll(async () => {
  t = await createTestApp({ clock });
});
afterAll(() => t.close());

async function revokeQuietly(sessionId: string): Promise<void> {
  await t.app.container.db.update(sessions).set({ revokedAt: clock.now() }).where(eq(sessions.id, sessionId));
}

function freshCache(maxEntries?: number, maxAgeMs?: number): SessionCache {
  return new SessionCache(t.app.container.db, maxEntries, maxAgeMs);
}

describe('SessionCache', () => {
  let user: SignedIn;
  beforeAll(async () => {
    user = await createSignedInUser(t.app);
  });

  it('answers from memory once loaded, until told otherwise', async () => {
    const other = await signIn(t.app, user);
    const cache = freshCache();
    expect(await cache.isLive(other.sessionId, user.user.id)).toMatchObject({ userId: user.user.id });
    await revokeQuietly(other.sessionId);
    // Nobody said anything, so memory still says live: this is why every change must notify.
    expect(await cache.isLive(other.sessionId, user.user.id)).toBeDefined();

    cache.apply(`session:${other.sessionId}`);
    expect(await cache.isLive(other.sessionId, user.user.id)).toBeUndefined();
  });

  it('a user:<id> notification drops every session of that user, and only theirs', async () => {
    const mine = await signIn(t.app, user);
    const someone = await createSignedInUser(t.app);
    const cache = freshCache();
    await cache.isLive(mine.sessionId, user.user.id);
    await cache.isLive(someone.sessionId, someone.user.id);
    await revokeQuietly(mine.sessionId);
    await revokeQuietly(someone.sessionId);

    cache.apply(`user:${user.user.id}`);
    expect(await cache.isLive(mine.sessionId, user.user.id)).toBeUndefined();
    expect(await cache.isLive(someone.sessionId, someone.user.id)).toBeDefined();
  });

  it('ignores payloads it does not understand', async () => {
    const other = await signIn(t.app, user);
    const cache = freshCache();
    await cache.isLive(other.sessionId, user.user.id);
    await revokeQuietly(other.sessionId);
    for (const payload of ['', 'session', 'session:', `tenant:${other.sessionId}`, 'nonsense'])
      cache.apply(payload);
    expect(await cache.isLive(other.sessionId, user.user.id)).toBeDefined();
  });

  it('clear() (a listener reconnect) drops everything', async () => {
    const other = await signIn(t.app, user);
    const cache = freshCache();
    await cache.isLive(other.sessionId, user.user.id);
    await revokeQuietly(other.sessionId);
    cache.clear();
    expect(await cache.isLive(other.sessionId, user.user.id)).toBeUndefined();
  });

  it('a load that was in flight when an invalidation arrived is not kept', async () => {
    const other = await signIn(t.app, user);
    const cache = freshCache();
    const loading = cache.get(other.sessionId);
    cache.invalidateSession(other.sessionId);
    expect(await loading).toMatchObject({ active: true });
    await revokeQuietly(other.sessionId);
    expect(await cache.isLive(other.sessionId, user.user.id)).toBeUndefined();
  });

  it('entries age out after maxAgeMs as a backstop', async () => {
    const other = await signIn(t.app, user);
    const cache = freshCache(100, 0);
    await cache.isLive(other.sessionId, user.user.id);
    await revokeQuietly(other.sessionId);
    expect(await cache.isLive(other.sessionId, user.user.id)).toBeUndefined();
  });

  it('holds at most maxEntries, dropping the least recently loaded', async () => {
    const who = await createUser(t.app);
    const [a, b, c] = [await signIn(t.app, who), await signIn(t.app, who), await signIn(t.app, who)];
    const cache = freshCache(2);
    for (const s of [a, b, c]) await cache.isLive(s.sessionId, who.user.id);
    await revokeQuietly(a.sessionId);
    await revokeQuietly(c.sessionId);
    expect(await cache.isLive(a.sessionId, who.user.id)).toBeUndefined(); // evicted, so re-read
    expect(await cache.isLive(c.sessionId, who.user.id)).toBeDefined(); // still in memory
  });

  it('refuses a session named under another user, and an unknown session', async () => {
    const other = await signIn(t.app, user);
    const someone = await createSignedInUser(t.app);
    const cache = freshCache();
    expect(await cache.isLive(other.sessionId, someone.user.id)).toBeUndefined();
    expect(await cache.isLive('01890000-0000-7000-8000-000000000000', user.user.id)).toBeUndefined();
    expect(await cache.isLive(other.sessionId, user.user.id)).toBeDefined();
  });
});
