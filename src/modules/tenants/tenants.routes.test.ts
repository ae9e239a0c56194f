import { eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Response, request, type TestApp } from '../../../test/app.js';
import {
  addMember,
  createSignedInUser,
  createSuperuser,
  createTenant,
  type SignedIn,
} from '../../../test/factories.js';
import { memberRoles, memberships, rolePermissions, roles, tenants } from '../../db/schema/index.js';

const ENV = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };
const NOT_A_TENANT = '01890000-0000-7000-8000-000000000000';
const TENANT_FIELDS = ['createdAt', 'id', 'name', 'slug', 'updatedAt'];

function expectProblem(response: Response, status: number, code: string): void {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.json()).toMatchObject({ status, code });
}

describe('/v1/tenants', () => {
  let t: TestApp;
  let closed: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: ENV });
    closed = await createTestApp({ env: { ...ENV, ALLOW_TENANT_CREATION: 'false' } });
  });
  afterAll(async () => {
    await closed?.close();
    await t?.close();
  });

  const post = (token: string, body: unknown) => request(t.app, 'POST', '/v1/tenants', { token, body });
  const db = () => t.app.container.db;

  describe('POST /', () => {
    it('creates the tenant, its three built-in roles and the caller as owner, in one go', async () => {
      const u = await createSignedInUser(t.app);
      const response = await post(u.accessToken, {
        name: 'Acme Widgets',
        slug: `acme-${u.user.id.slice(-8)}`,
      });
      expect(response.statusCode, response.body).toBe(201);
      const body = response.json();
      expect(Object.keys(body).sort()).toEqual(TENANT_FIELDS);
      expect(body).toMatchObject({ name: 'Acme Widgets', slug: `acme-${u.user.id.slice(-8)}` });

      const roleRows = await db().select().from(roles).where(eq(roles.tenantId, body.id));
      expect(roleRows.map((r) => [r.name, r.builtIn]).sort()).toEqual([
        ['admin', 'admin'],
        ['member', 'member'],
        ['owner', 'owner'],
      ]);
      const owner = roleRows.find((r) => r.builtIn === 'owner')!;
      expect(await db().select().from(memberships).where(eq(memberships.tenantId, body.id))).toMatchObject([
        { userId: u.user.id },
      ]);
      expect(await db().select().from(memberRoles).where(eq(memberRoles.tenantId, body.id))).toEqual([
        { tenantId: body.id, userId: u.user.id, roleId: owner.id },
      ]);
      // The creator can use it at once (no stale "not a member" in the permission cache).
      const get = await request(t.app, 'GET', `/v1/tenants/${body.id}`, { token: u.accessToken });
      expect(get.statusCode).toBe(200);
      expect(get.json()).toEqual(body);
    });

    it('generates the slug from the name: accents stripped, lower-case, hyphens', async () => {
      const u = await createSignedInUser(t.app);
      const name = `Crème Brûlée ${u.user.id.slice(-6)} & Co.`;
      const response = await post(u.accessToken, { name });
      expect(response.statusCode, response.body).toBe(201);
      expect(response.json().slug).toBe(`creme-brulee-${u.user.id.slice(-6)}-co`);
    });

    it('adds a random suffix when the generated slug is taken', async () => {
      const u = await createSignedInUser(t.app);
      const first = await post(u.accessToken, { name: 'Duplicate Name Ltd' });
      const second = await post(u.accessToken, { name: 'Duplicate Name Ltd' });
      expect(first.statusCode).toBe(201);
      expect(second.statusCode).toBe(201);
      expect(second.json().slug).toMatch(/^duplicate-name-ltd(-[a-z0-9]{6})?$/);
      expect(second.json().slug).not.toBe(first.json().slug);
    });

    it('answers 409 conflict for a taken explicit slug and creates nothing', async () => {
      const u = await createSignedInUser(t.app);
      const slug = `taken-${u.user.id.slice(-8)}`;
      expect((await post(u.accessToken, { name: 'One', slug })).statusCode).toBe(201);
      const before = await db().select({ id: tenants.id }).from(tenants);
      expectProblem(await post(u.accessToken, { name: 'Two', slug }), 409, 'conflict');
      expect(await db().select({ id: tenants.id }).from(tenants)).toHaveLength(before.length);
    });

    it.each([
      ['a slug with upper case', { name: 'X', slug: 'Acme' }, '/slug'],
      ['a slug with a double hyphen', { name: 'X', slug: 'ac--me' }, '/slug'],
      ['a slug ending in a hyphen', { name: 'X', slug: 'acme-' }, '/slug'],
      ['a slug of 2 characters', { name: 'X', slug: 'ab' }, '/slug'],
      ['a slug of 64 characters', { name: 'X', slug: 'a'.repeat(64) }, '/slug'],
      ['a blank name', { name: '   ' }, '/name'],
      ['no name', { slug: 'acme-corp' }, '/name'],
      ['an unknown field', { name: 'X', plan: 'gold' }, '/plan'],
    ])('answers 400 validation_failed for %s', async (_label, body, path) => {
      const u = await createSignedInUser(t.app);
      const response = await post(u.accessToken, body);
      expectProblem(response, 400, 'validation_failed');
      expect(response.json().errors.map((e: { path: string }) => e.path)).toContain(path);
    });

    it('answers 401 without a token', async () => {
      expectProblem(
        await request(t.app, 'POST', '/v1/tenants', { body: { name: 'X' } }),
        401,
        'unauthenticated',
      );
    });

    it('answers 403 tenant_creation_disabled when creation is off, but lets superusers create', async () => {
      const u = await createSignedInUser(closed.app);
      const refused = await request(closed.app, 'POST', '/v1/tenants', {
        token: u.accessToken,
        body: { name: 'Nope' },
      });
      expectProblem(refused, 403, 'tenant_creation_disabled');
      const count = await closed.app.container.db.select({ n: sql<number>`count(*)::int` }).from(tenants);
      expect(count[0]?.n).toBe(0);
      const root = await createSuperuser(closed.app);
      const allowed = await request(closed.app, 'POST', '/v1/tenants', {
        token: root.accessToken,
        body: { name: 'Platform' },
      });
      expect(allowed.statusCode, allowed.body).toBe(201);
    });
  });

  describe('GET /', () => {
    it('lists only the tenants the caller belongs to, newest first, paginated, with ?q=', async () => {
      const u = await createSignedInUser(t.app);
      const other = await createSignedInUser(t.app);
      const mine = [];
      for (let i = 0; i < 5; i++) mine.push(await createTenant(t.app, u, { name: `Listed ${i} Zebra` }));
      const theirs = await createTenant(t.app, other, { name: 'Listed Hidden Zebra' });
      const joined = await createTenant(t.app, other, { name: 'Joined Giraffe' });
      await addMember(t.app, joined.id, u, ['member']);

      const first = await request(t.app, 'GET', '/v1/tenants?limit=4', { token: u.accessToken });
      expect(first.statusCode, first.body).toBe(200);
      expect(first.json().data.map((x: { id: string }) => x.id)).toEqual([
        joined.id,
        mine[4]!.id,
        mine[3]!.id,
        mine[2]!.id,
      ]);
      const next = first.json().nextCursor;
      expect(next).toEqual(expect.any(String));
      const second = await request(t.app, 'GET', `/v1/tenants?limit=4&cursor=${next}`, {
        token: u.accessToken,
      });
      expect(second.json()).toEqual({
        data: [mine[1], mine[0]].map((x) => expect.objectContaining({ id: x!.id })),
        nextCursor: null,
      });
      expect(second.body).not.toContain(theirs.id);

      const search = await request(t.app, 'GET', '/v1/tenants?q=zebra', { token: u.accessToken });
      expect(search.json().data.map((x: { id: string }) => x.id)).toEqual(mine.map((x) => x.id).reverse());
      const bySlug = await request(t.app, 'GET', `/v1/tenants?q=${joined.slug}`, { token: u.accessToken });
      expect(bySlug.json().data.map((x: { id: string }) => x.id)).toEqual([joined.id]);
    });

    it('lists every tenant for a superuser', async () => {
      const u = await createSignedInUser(t.app);
      const tenant = await createTenant(t.app, u, { name: 'Seen By Root' });
      const root = await createSuperuser(t.app);
      const response = await request(t.app, 'GET', '/v1/tenants?q=seen%20by%20root', {
        token: root.accessToken,
      });
      expect(response.json().data.map((x: { id: string }) => x.id)).toEqual([tenant.id]);
    });

    it('answers 400 for a bad cursor, limit or unknown query field, and 401 without a token', async () => {
      const u = await createSignedInUser(t.app);
      for (const query of ['cursor=nope', 'limit=0', 'limit=101', 'sort=name']) {
        expectProblem(
          await request(t.app, 'GET', `/v1/tenants?${query}`, { token: u.accessToken }),
          400,
          'validation_failed',
        );
      }
      expectProblem(await request(t.app, 'GET', '/v1/tenants'), 401, 'unauthenticated');
    });
  });

  describe('GET /v1/users/me/tenants', () => {
    it('answers each tenant with the roles the caller holds there', async () => {
      const u = await createSignedInUser(t.app);
      const other = await createSignedInUser(t.app);
      const own = await createTenant(t.app, u);
      const joined = await createTenant(t.app, other);
      await addMember(t.app, joined.id, u, ['admin', 'member']);
      await createTenant(t.app, other);

      const response = await request(t.app, 'GET', '/v1/users/me/tenants', { token: u.accessToken });
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toEqual({
        data: [
          {
            tenant: expect.objectContaining({ id: joined.id, slug: joined.slug }),
            roles: [
              { id: joined.roles.admin, name: 'admin' },
              { id: joined.roles.member, name: 'member' },
            ],
          },
          {
            tenant: expect.objectContaining({ id: own.id }),
            roles: [{ id: own.roles.owner, name: 'owner' }],
          },
        ],
        nextCursor: null,
      });
      const page = await request(t.app, 'GET', '/v1/users/me/tenants?limit=1', { token: u.accessToken });
      expect(page.json().data).toHaveLength(1);
      const rest = await request(
        t.app,
        'GET',
        `/v1/users/me/tenants?limit=1&cursor=${page.json().nextCursor}`,
        {
          token: u.accessToken,
        },
      );
      expect(rest.json()).toMatchObject({ data: [{ tenant: { id: own.id } }], nextCursor: null });
      expectProblem(await request(t.app, 'GET', '/v1/users/me/tenants'), 401, 'unauthenticated');
    });
  });

  describe('GET/PATCH/DELETE /:tenantId', () => {
    let owner: SignedIn;
    let admin: SignedIn;
    let member: SignedIn;
    let outsider: SignedIn;
    beforeAll(async () => {
      const people = await Promise.all([1, 2, 3, 4].map(() => createSignedInUser(t.app)));
      [owner, admin, member, outsider] = people as [SignedIn, SignedIn, SignedIn, SignedIn];
    });
    async function world() {
      const tenant = await createTenant(t.app, owner);
      await addMember(t.app, tenant.id, admin, ['admin']);
      await addMember(t.app, tenant.id, member, ['member']);
      return tenant;
    }

    it('GET answers members with tenant:read, 404 to outsiders and unknown ids, 400 for a bad id', async () => {
      const tenant = await world();
      const outsidersTenant = await createTenant(t.app, outsider);
      const url = `/v1/tenants/${tenant.id}`;
      expect((await request(t.app, 'GET', url, { token: member.accessToken })).json()).toMatchObject({
        id: tenant.id,
        slug: tenant.slug,
      });
      const hidden = await request(t.app, 'GET', url, { token: outsider.accessToken });
      expectProblem(hidden, 404, 'not_found');
      expect(hidden.body).not.toContain(tenant.slug);
      // Another tenant's id is as unknown as a made-up one.
      expectProblem(
        await request(t.app, 'GET', `/v1/tenants/${outsidersTenant.id}`, { token: owner.accessToken }),
        404,
        'not_found',
      );
      expectProblem(
        await request(t.app, 'GET', `/v1/tenants/${NOT_A_TENANT}`, { token: owner.accessToken }),
        404,
        'not_found',
      );
      expectProblem(
        await request(t.app, 'GET', '/v1/tenants/acme', { token: owner.accessToken }),
        400,
        'validation_failed',
      );
      expectProblem(await request(t.app, 'GET', url), 401, 'unauthenticated');
      const root = await createSuperuser(t.app);
      expect((await request(t.app, 'GET', url, { token: root.accessToken })).statusCode).toBe(200);
    });

    it('PATCH renames and re-slugs with tenant:update; 403 naming it for a member; 409 for a taken slug', async () => {
      const tenant = await world();
      const url = `/v1/tenants/${tenant.id}`;
      const slug = `renamed-${tenant.id.slice(-8)}`;
      const renamed = await request(t.app, 'PATCH', url, {
        token: admin.accessToken,
        body: { name: 'Renamed', slug },
      });
      expect(renamed.statusCode, renamed.body).toBe(200);
      expect(renamed.json()).toMatchObject({ id: tenant.id, name: 'Renamed', slug });
      const [row] = await db().select().from(tenants).where(eq(tenants.id, tenant.id));
      expect(row).toMatchObject({ name: 'Renamed', slug });

      const denied = await request(t.app, 'PATCH', url, {
        token: member.accessToken,
        body: { name: 'Mine' },
      });
      expectProblem(denied, 403, 'forbidden');
      expect(denied.json().detail).toContain('tenant:update');

      const other = await createTenant(t.app, owner);
      expectProblem(
        await request(t.app, 'PATCH', url, { token: owner.accessToken, body: { slug: other.slug } }),
        409,
        'conflict',
      );
      expectProblem(
        await request(t.app, 'PATCH', url, { token: owner.accessToken, body: {} }),
        400,
        'validation_failed',
      );
      expectProblem(
        await request(t.app, 'PATCH', url, { token: owner.accessToken, body: { slug: 'Bad Slug' } }),
        400,
        'validation_failed',
      );
      expectProblem(
        await request(t.app, 'PATCH', url, {
          token: owner.accessToken,
          body: { name: 'x', id: NOT_A_TENANT },
        }),
        400,
        'validation_failed',
      );
      expectProblem(
        await request(t.app, 'PATCH', url, { token: outsider.accessToken, body: { name: 'Hijack' } }),
        404,
        'not_found',
      );
      const [unchanged] = await db().select().from(tenants).where(eq(tenants.id, tenant.id));
      expect(unchanged).toMatchObject({ name: 'Renamed', slug });
    });

    it('DELETE needs tenant:delete (admins lack it) and removes every row of the tenant', async () => {
      const tenant = await world();
      const url = `/v1/tenants/${tenant.id}`;
      // A custom role with permissions, so role_permissions has rows to lose.
      const [custom] = await db().insert(roles).values({ tenantId: tenant.id, name: 'auditor' }).returning();
      await db()
        .insert(rolePermissions)
        .values({ tenantId: tenant.id, roleId: custom!.id, permissionKey: 'audit:read' });
      await addMember(t.app, tenant.id, outsider, [custom!.id]);
      const survivor = await createTenant(t.app, owner);

      const denied = await request(t.app, 'DELETE', url, { token: admin.accessToken });
      expectProblem(denied, 403, 'forbidden');
      expect(denied.json().detail).toContain('tenant:delete');
      // Cached access of the members, about to go stale.
      expect((await request(t.app, 'GET', url, { token: member.accessToken })).statusCode).toBe(200);

      const deleted = await request(t.app, 'DELETE', url, { token: owner.accessToken });
      expect(deleted.statusCode, deleted.body).toBe(204);
      for (const table of [roles, memberships, memberRoles, rolePermissions]) {
        expect(await db().select().from(table).where(eq(table.tenantId, tenant.id))).toEqual([]);
      }
      expect(await db().select().from(tenants).where(eq(tenants.id, tenant.id))).toEqual([]);
      expect(
        await db()
          .select()
          .from(roles)
          .where(inArray(roles.tenantId, [survivor.id])),
      ).toHaveLength(3);
      // Gone for everyone, on the next request.
      expectProblem(await request(t.app, 'GET', url, { token: member.accessToken }), 404, 'not_found');
      expectProblem(await request(t.app, 'DELETE', url, { token: owner.accessToken }), 404, 'not_found');
    });
  });
});
