import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { createUser, type SeededTenant, seedMember, seedTenant } from '../../../test/factories.js';
import { memberRoles } from '../../db/schema/index.js';
import { PermissionResolver } from './permission-resolver.js';

/**
 * The resolver's cache on its own. Roles are changed here straight in the table, with no change
 * published, so a stale answer shows what is still cached and a fresh one what was dropped.
 */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

/** A member holding `member`, whose role is then raised to admin behind the resolver's back. */
async function memberIn(tenant: SeededTenant) {
  const user = await createUser(t.app);
  await seedMember(t.app, tenant.tenantId, user.user.id, [tenant.roles.member]);
  const promote = () =>
    t.app.container.db
      .update(memberRoles)
      .set({ roleId: tenant.roles.admin })
      .where(and(eq(memberRoles.tenantId, tenant.tenantId), eq(memberRoles.userId, user.user.id)));
  return { userId: user.user.id, promote };
}

const isAdminLike = (resolver: PermissionResolver, tenantId: string, userId: string) =>
  resolver.forMember(tenantId, userId).then((access) => access?.permissions.has('roles:manage'));

/** Has the resolver cache each member's answer, in order, then promotes them all behind its back. */
async function cacheThenPromote(
  resolver: PermissionResolver,
  members: Array<[SeededTenant, Awaited<ReturnType<typeof memberIn>>]>,
): Promise<void> {
  for (const [tenant, m] of members) {
    expect(await isAdminLike(resolver, tenant.tenantId, m.userId)).toBe(false);
    await m.promote();
  }
}

describe('PermissionResolver cache', () => {
  it('keeps an answer until a change for that member or tenant is applied, and only that one', async () => {
    const resolver = new PermissionResolver(t.app.container.db);
    const one = await seedTenant(t.app);
    const other = await seedTenant(t.app);
    const a = await memberIn(one);
    const b = await memberIn(one);
    const c = await memberIn(other);
    await cacheThenPromote(resolver, [
      [one, a],
      [one, b],
      [other, c],
    ]);
    expect(await isAdminLike(resolver, one.tenantId, a.userId)).toBe(false); // cached

    resolver.apply(`member:${one.tenantId}:${a.userId}`);
    expect(await isAdminLike(resolver, one.tenantId, a.userId)).toBe(true);
    expect(await isAdminLike(resolver, one.tenantId, b.userId)).toBe(false);

    resolver.apply(`tenant:${one.tenantId}`);
    expect(await isAdminLike(resolver, one.tenantId, b.userId)).toBe(true);
    expect(await isAdminLike(resolver, other.tenantId, c.userId)).toBe(false); // another tenant's

    resolver.clear();
    expect(await isAdminLike(resolver, other.tenantId, c.userId)).toBe(true);
  });

  it('holds at most maxEntries answers: the oldest of the tenant least recently loaded into goes', async () => {
    const resolver = new PermissionResolver(t.app.container.db, 2);
    const one = await seedTenant(t.app);
    const other = await seedTenant(t.app);
    const first = await memberIn(one);
    const second = await memberIn(other);
    const third = await memberIn(one);
    await cacheThenPromote(resolver, [
      [one, first],
      [other, second],
      [one, third],
    ]);
    // Loading the third into `one` pushed out `other`'s answer: read again, fresh.
    expect(await isAdminLike(resolver, other.tenantId, second.userId)).toBe(true);
    // That pushed out `one`'s oldest, the first; the third is still cached.
    expect(await isAdminLike(resolver, one.tenantId, third.userId)).toBe(false);
    expect(await isAdminLike(resolver, one.tenantId, first.userId)).toBe(true);
  });
});
