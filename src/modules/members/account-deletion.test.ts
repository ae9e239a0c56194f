import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, request, type TestApp } from '../../../test/app.js';
import { addMember, createSignedInUser, createSuperuser, createTenant } from '../../../test/factories.js';
import { memberRoles, memberships, users } from '../../db/schema/index.js';

/** DELETE /v1/users/me and tenants: the sole owner of a tenant cannot delete their account. */
const ENV = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: ENV });
});
afterAll(() => t?.close());

const db = () => t.app.container.db;
const userRow = async (id: string) => (await db().select().from(users).where(eq(users.id, id)))[0];

describe('DELETE /v1/users/me', () => {
  it('answers 409 sole_owner while the caller is the only owner of a tenant, and deletes nothing', async () => {
    const owner = await createSignedInUser(t.app);
    const tenant = await createTenant(t.app, owner);
    const response = await request(t.app, 'DELETE', '/v1/users/me', { token: owner.accessToken });
    expect(response.statusCode, response.body).toBe(409);
    expect(response.json()).toMatchObject({ code: 'sole_owner' });
    expect(response.json().detail).toContain(tenant.id);
    expect(await userRow(owner.user.id)).toBeDefined();
    expect(
      (await request(t.app, 'GET', `/v1/tenants/${tenant.id}`, { token: owner.accessToken })).statusCode,
    ).toBe(200);
  });

  it('succeeds once another owner exists; memberships go and the tenant stays with its other owner', async () => {
    const owner = await createSignedInUser(t.app);
    const coOwner = await createSignedInUser(t.app);
    const tenant = await createTenant(t.app, owner);
    // Being a plain member elsewhere never blocks deletion.
    const elsewhere = await createTenant(t.app, coOwner);
    await addMember(t.app, elsewhere.id, owner, ['member']);
    await addMember(t.app, tenant.id, coOwner, ['owner']);

    const response = await request(t.app, 'DELETE', '/v1/users/me', { token: owner.accessToken });
    expect(response.statusCode, response.body).toBe(204);
    expect(await userRow(owner.user.id)).toBeUndefined();
    expect(await db().select().from(memberships).where(eq(memberships.userId, owner.user.id))).toEqual([]);
    expect(await db().select().from(memberRoles).where(eq(memberRoles.userId, owner.user.id))).toEqual([]);
    const members = await request(t.app, 'GET', `/v1/tenants/${tenant.id}/members`, {
      token: coOwner.accessToken,
    });
    expect(members.json().data.map((m: { user: { id: string } }) => m.user.id)).toEqual([coOwner.user.id]);
  });

  it('a plain member deletes their account; the tenant forgets them at once', async () => {
    const owner = await createSignedInUser(t.app);
    const member = await createSignedInUser(t.app);
    const tenant = await createTenant(t.app, owner);
    await addMember(t.app, tenant.id, member, ['member']);
    const url = `/v1/tenants/${tenant.id}/members/${member.user.id}`;
    expect((await request(t.app, 'GET', url, { token: owner.accessToken })).statusCode).toBe(200);
    expect((await request(t.app, 'DELETE', '/v1/users/me', { token: member.accessToken })).statusCode).toBe(
      204,
    );
    expect((await request(t.app, 'GET', url, { token: owner.accessToken })).statusCode).toBe(404);
    expect(
      await db()
        .select()
        .from(memberships)
        .where(and(eq(memberships.tenantId, tenant.id), eq(memberships.userId, member.user.id))),
    ).toEqual([]);
  });

  it('a superuser deleting a sole owner is not refused (platform administration)', async () => {
    const root = await createSuperuser(t.app);
    await createSuperuser(t.app);
    const owner = await createSignedInUser(t.app);
    await createTenant(t.app, owner);
    const response = await request(t.app, 'DELETE', `/v1/users/${owner.user.id}`, {
      token: root.accessToken,
    });
    expect(response.statusCode, response.body).toBe(204);
    expect(await userRow(owner.user.id)).toBeUndefined();
  });
});
