import { and, eq, like } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BIG_TENANT_SLUG,
  SEED_PASSWORD,
  scaleTenantSlug,
  scaleUserEmail,
  seededTotals,
  seedMembers,
  seedScale,
} from '../bench/seed.js';
import { memberRoles, roles, tenants, users } from '../src/db/schema/index.js';
import { createTestApp, request, type TestApp } from './app.js';
import { createSignedInUser, createTenant, type SignedIn, signIn } from './factories.js';

/** The seed made small: the same shapes as 1,000,000 users in 10,000 tenants. */
const USERS = 500;
const TENANTS = 20;

let t: TestApp;
let bigTenantId: string;
beforeAll(async () => {
  t = await createTestApp();
  ({ bigTenantId } = await seedScale(t.database, { users: USERS, tenants: TENANTS }));
});
afterAll(() => t?.close());

/** Signs in through POST /v1/auth/login with the password every seeded user shares. */
async function signInAs(email: string): Promise<SignedIn> {
  const [user] = await t.app.container.db.select().from(users).where(eq(users.email, email));
  return signIn(t.app, { user: user!, email, password: SEED_PASSWORD });
}

async function tenantIdOf(slug: string): Promise<string> {
  const [row] = await t.app.container.db
    .select({ id: tenants.id })
    .from(tenants)
    .where(eq(tenants.slug, slug));
  return row!.id;
}

interface MemberPage {
  data: Array<{ user: { id: string; email: string }; roles: Array<{ name: string }>; createdAt: string }>;
  nextCursor: string | null;
}

/** Every member of the tenant, page after page, as `caller` sees them. */
async function allMembers(tenantId: string, caller: SignedIn, limit: number): Promise<MemberPage['data']> {
  const members: MemberPage['data'] = [];
  let cursor: string | null = null;
  do {
    const query: string = `limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const response = await request(t.app, 'GET', `/v1/tenants/${tenantId}/members?${query}`, {
      token: caller.accessToken,
    });
    expect(response.statusCode, response.body).toBe(200);
    const page = response.json() as MemberPage;
    members.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor);
  return members;
}

describe('seedScale', () => {
  it('writes the users, tenants, roles and memberships the app would', async () => {
    expect(await seededTotals(t.database)).toEqual({
      users: USERS,
      tenants: TENANTS,
      roles: 3 * TENANTS,
      // Every user in the big tenant, and every user in one of the 19 others.
      memberships: 2 * USERS,
      member_roles: 2 * USERS,
    });
    const [user] = await t.app.container.db
      .select()
      .from(users)
      .where(eq(users.email, scaleUserEmail(7)));
    expect(user).toMatchObject({ name: 'Scale User 7', isActive: true, isSuperuser: false });
    expect(user!.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it('lets a seeded user sign in with the shared password', async () => {
    const user = await signInAs(scaleUserEmail(USERS));
    const me = await request(t.app, 'GET', '/v1/users/me', { token: user.accessToken });
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json()).toMatchObject({ email: scaleUserEmail(USERS), name: `Scale User ${USERS}` });
  });

  it('lists every member of the big tenant, newest first, across pages', async () => {
    const owner = await signInAs(scaleUserEmail(1));
    const members = await allMembers(bigTenantId, owner, 100);
    expect(members).toHaveLength(USERS);
    expect(new Set(members.map((m) => m.user.email))).toEqual(
      new Set(Array.from({ length: USERS }, (_, i) => scaleUserEmail(i + 1))),
    );
    // The last to join comes first: membership ids sort by time as the app's UUIDv7 ids do.
    expect(members[0]!.user.email).toBe(scaleUserEmail(USERS));
    expect(members.at(-1)!.user.email).toBe(scaleUserEmail(1));
    const times = members.map((m) => Date.parse(m.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(members.at(-1)!.roles.map((r) => r.name)).toEqual(['owner']);
    expect(members.slice(0, -1).every((m) => m.roles.length === 1 && m.roles[0]!.name === 'member')).toBe(
      true,
    );
  });

  it('gives each tenant its owner, and the built-in roles their permissions', async () => {
    // User 2 owns small tenant 2 and is a plain member of the big one.
    const user = await signInAs(scaleUserEmail(2));
    const own = await tenantIdOf(scaleTenantSlug(2));
    const mine = await request(t.app, 'GET', '/v1/users/me/tenants', { token: user.accessToken });
    expect(mine.statusCode, mine.body).toBe(200);
    const byId = new Map(
      (mine.json() as { data: Array<{ tenant: { id: string }; roles: Array<{ name: string }> }> }).data.map(
        (row) => [row.tenant.id, row.roles.map((r) => r.name)],
      ),
    );
    expect(byId).toEqual(
      new Map([
        [bigTenantId, ['member']],
        [own, ['owner']],
      ]),
    );

    const read = await request(t.app, 'GET', `/v1/tenants/${own}`, { token: user.accessToken });
    expect(read.statusCode, read.body).toBe(200);
    expect(read.json()).toMatchObject({ slug: scaleTenantSlug(2), name: 'Scale Tenant 2' });
    const rename = await request(t.app, 'PATCH', `/v1/tenants/${own}`, {
      token: user.accessToken,
      body: { name: 'Renamed by its owner' },
    });
    expect(rename.statusCode, rename.body).toBe(200);

    // In the big tenant the member reads, but may not rename (tenant:update) nor invite.
    expect(
      (await request(t.app, 'GET', `/v1/tenants/${bigTenantId}`, { token: user.accessToken })).statusCode,
    ).toBe(200);
    const refused = await request(t.app, 'PATCH', `/v1/tenants/${bigTenantId}`, {
      token: user.accessToken,
      body: { name: 'Not mine' },
    });
    expect(refused.statusCode, refused.body).toBe(403);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    const [memberRole] = await t.app.container.db
      .select({ id: roles.id })
      .from(roles)
      .where(and(eq(roles.tenantId, bigTenantId), eq(roles.builtIn, 'member')));
    const invite = await request(t.app, 'POST', `/v1/tenants/${bigTenantId}/invitations`, {
      token: user.accessToken,
      body: { email: 'someone@example.test', roleIds: [memberRole!.id] },
    });
    expect(invite.statusCode, invite.body).toBe(403);
  });

  it('does nothing when run again at the same size, and refuses another size', async () => {
    expect(await seedScale(t.database, { users: USERS, tenants: TENANTS })).toEqual({
      bigTenantId,
      created: false,
    });
    await expect(seedScale(t.database, { users: USERS + 1, tenants: TENANTS })).rejects.toThrow(
      new RegExp(`${BIG_TENANT_SLUG} with ${USERS} members`),
    );
    expect((await seededTotals(t.database)).users).toBe(USERS);
  });
});

describe('seedMembers', () => {
  it('adds new users to a tenant with the built-in member role, reporting progress', async () => {
    const owner = await createSignedInUser(t.app);
    const tenant = await createTenant(t.app, owner);
    const progress: Array<[number, number]> = [];
    await seedMembers(t.database, tenant.id, 120, {
      password: 'another-seeded-password-77',
      onProgress: (done, total) => progress.push([done, total]),
    });
    await seedMembers(t.database, tenant.id, 30);
    expect(progress).toEqual([
      [0, 120],
      [120, 120],
    ]);

    const members = await allMembers(tenant.id, owner, 50);
    expect(members).toHaveLength(151);
    expect(new Set(members.map((m) => m.user.id)).size).toBe(151);
    const seeded = members.filter((m) => m.user.id !== owner.user.id);
    expect(seeded.every((m) => m.roles.length === 1 && m.roles[0]!.name === 'member')).toBe(true);
    expect(seeded.every((m) => m.user.email === m.user.email.toLowerCase())).toBe(true);
    const links = await t.app.container.db
      .select({ roleId: memberRoles.roleId })
      .from(memberRoles)
      .where(and(eq(memberRoles.tenantId, tenant.id), eq(memberRoles.roleId, tenant.roles.member)));
    expect(links).toHaveLength(150);

    // Each call's users share one password; any of them signs in with it.
    const [first] = await t.app.container.db
      .select({ email: users.email })
      .from(users)
      .where(like(users.email, 'member-%'))
      .orderBy(users.id)
      .limit(1);
    const login = await request(t.app, 'POST', '/v1/auth/login', {
      body: { email: first!.email, password: 'another-seeded-password-77' },
    });
    expect(login.statusCode, login.body).toBe(200);
  });

  it('refuses a tenant that does not exist', async () => {
    const [anyRole] = await t.app.container.db.select({ id: roles.id }).from(roles).limit(1);
    await expect(seedMembers(t.database, anyRole!.id, 1)).rejects.toThrow(/does not exist/);
  });
});
