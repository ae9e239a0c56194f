import { and, eq, type SQL, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Response, request, type TestApp } from '../../../test/app.js';
import {
  addMember,
  createSignedInUser,
  createSuperuser,
  createTenant,
  type SignedIn,
  type TestTenant,
} from '../../../test/factories.js';
import { memberRoles, memberships, rolePermissions, roles, tenants, users } from '../../db/schema/index.js';
import { uuidv7 } from '../../domain/ids.js';
import { built, queryRows, toQuery } from '../../platform/db.js';
import { membersPageQuery } from './members.repo.js';

/** EXPLAIN of a statement, with its own values. */
function explained(query: SQL): SQL {
  const { sql: text, params } = toQuery(query);
  return built({ sql: `explain ${text}`, params });
}

const ENV = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };
const NOBODY = '01890000-0000-7000-8000-000000000000';

function expectProblem(response: Response, status: number, code: string): void {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.json()).toMatchObject({ status, code });
}

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: ENV });
});
afterAll(() => t?.close());

const db = () => t.app.container.db;

/** A custom role holding exactly `permissions`. */
async function customRole(tenantId: string, name: string, permissions: string[]): Promise<string> {
  const [role] = await db().insert(roles).values({ tenantId, name }).returning();
  if (permissions.length > 0)
    await db()
      .insert(rolePermissions)
      .values(permissions.map((permissionKey) => ({ tenantId, roleId: role!.id, permissionKey })));
  return role!.id;
}

async function roleIdsOf(tenantId: string, userId: string): Promise<string[]> {
  const rows = await db()
    .select({ roleId: memberRoles.roleId })
    .from(memberRoles)
    .where(and(eq(memberRoles.tenantId, tenantId), eq(memberRoles.userId, userId)));
  return rows.map((r) => r.roleId).sort();
}

interface World {
  tenant: TestTenant;
  owner: SignedIn;
  admin: SignedIn;
  member: SignedIn;
  /** Holds a custom role with only members:update. */
  updater: SignedIn;
  updaterRole: string;
  outsider: SignedIn;
  /** Another tenant, owned by the outsider. */
  other: TestTenant;
}

async function world(): Promise<World> {
  const [owner, admin, member, updater, outsider] = await Promise.all(
    [1, 2, 3, 4, 5].map((i) => createSignedInUser(t.app, { name: `Person ${i}` })),
  );
  const tenant = await createTenant(t.app, owner!);
  await addMember(t.app, tenant.id, admin!, ['admin']);
  await addMember(t.app, tenant.id, member!, ['member']);
  const updaterRole = await customRole(tenant.id, 'updater', ['members:update']);
  await addMember(t.app, tenant.id, updater!, [updaterRole]);
  const other = await createTenant(t.app, outsider!);
  return {
    tenant,
    owner: owner!,
    admin: admin!,
    member: member!,
    updater: updater!,
    updaterRole,
    outsider: outsider!,
    other,
  };
}

describe('GET /v1/tenants/:tenantId/members', () => {
  it('lists members newest first with their roles, paginated, and searches email and name', async () => {
    const w = await world();
    const url = `/v1/tenants/${w.tenant.id}/members`;
    const all = await request(t.app, 'GET', url, { token: w.member.accessToken });
    expect(all.statusCode, all.body).toBe(200);
    expect(all.json().data.map((m: { user: { id: string } }) => m.user.id)).toEqual(
      [w.updater, w.member, w.admin, w.owner].map((u) => u.user.id),
    );
    expect(all.json().data[3]).toEqual({
      user: { id: w.owner.user.id, email: w.owner.email, name: 'Person 1' },
      roles: [{ id: w.tenant.roles.owner, name: 'owner' }],
      createdAt: expect.any(String),
    });
    expect(all.json().nextCursor).toBeNull();
    expect(all.body).not.toContain(w.outsider.user.id);

    const first = await request(t.app, 'GET', `${url}?limit=3`, { token: w.member.accessToken });
    expect(first.json().data).toHaveLength(3);
    const rest = await request(t.app, 'GET', `${url}?limit=3&cursor=${first.json().nextCursor}`, {
      token: w.member.accessToken,
    });
    expect(rest.json()).toMatchObject({ data: [{ user: { id: w.owner.user.id } }], nextCursor: null });

    const byEmail = await request(
      t.app,
      'GET',
      `${url}?q=${encodeURIComponent(w.admin.email.toUpperCase())}`,
      {
        token: w.member.accessToken,
      },
    );
    expect(byEmail.json().data.map((m: { user: { id: string } }) => m.user.id)).toEqual([w.admin.user.id]);
    const byName = await request(t.app, 'GET', `${url}?q=person%203`, { token: w.member.accessToken });
    expect(byName.json().data.map((m: { user: { id: string } }) => m.user.id)).toEqual([w.member.user.id]);
    const wildcard = await request(t.app, 'GET', `${url}?q=%25`, { token: w.member.accessToken });
    expect(wildcard.json().data).toEqual([]);
  });

  it('names each member’s roles as they are now: a role made since, a rename', async () => {
    const w = await world();
    const url = `/v1/tenants/${w.tenant.id}/members`;
    const updaterInList = async () => {
      const page = await request(t.app, 'GET', url, { token: w.owner.accessToken });
      expect(page.statusCode, page.body).toBe(200);
      return page.json().data.find((m: { user: { id: string } }) => m.user.id === w.updater.user.id);
    };
    const rolesOfUpdater = async () => (await updaterInList()).roles;
    expect(await rolesOfUpdater()).toEqual([{ id: w.updaterRole, name: 'updater' }]);

    // A role made after the tenant's names were read, then held: named on the next page.
    const created = await request(t.app, 'POST', `/v1/tenants/${w.tenant.id}/roles`, {
      token: w.owner.accessToken,
      body: { name: 'Auditor', permissions: ['audit:read'] },
    });
    expect(created.statusCode, created.body).toBe(201);
    const auditor = created.json().id as string;
    const held = await request(t.app, 'PUT', `${url}/${w.updater.user.id}/roles`, {
      token: w.owner.accessToken,
      body: { roleIds: [w.updaterRole, auditor] },
    });
    expect(held.statusCode, held.body).toBe(200);
    expect(await rolesOfUpdater()).toEqual([
      { id: auditor, name: 'Auditor' },
      { id: w.updaterRole, name: 'updater' },
    ]);

    const renamed = await request(t.app, 'PATCH', `/v1/tenants/${w.tenant.id}/roles/${auditor}`, {
      token: w.owner.accessToken,
      body: { name: 'zz-auditor' },
    });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(await rolesOfUpdater()).toEqual([
      { id: w.updaterRole, name: 'updater' },
      { id: auditor, name: 'zz-auditor' },
    ]);
    // The list's entry is the member's own view, to the millisecond of its join time.
    const one = await request(t.app, 'GET', `${url}/${w.updater.user.id}`, { token: w.owner.accessToken });
    expect(one.json()).toEqual(await updaterInList());
    expect(one.json().createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('answers 403 naming members:read, 404 to outsiders and for unknown tenants, 400, 401', async () => {
    const w = await world();
    const url = `/v1/tenants/${w.tenant.id}/members`;
    const denied = await request(t.app, 'GET', url, { token: w.updater.accessToken });
    expectProblem(denied, 403, 'forbidden');
    expect(denied.json().detail).toContain('members:read');
    const hidden = await request(t.app, 'GET', url, { token: w.outsider.accessToken });
    expectProblem(hidden, 404, 'not_found');
    expect(hidden.body).not.toContain(w.owner.email);
    expectProblem(
      await request(t.app, 'GET', `/v1/tenants/${w.other.id}/members`, { token: w.owner.accessToken }),
      404,
      'not_found',
    );
    expectProblem(
      await request(t.app, 'GET', `/v1/tenants/${NOBODY}/members`, { token: w.owner.accessToken }),
      404,
      'not_found',
    );
    expectProblem(
      await request(t.app, 'GET', '/v1/tenants/x/members', { token: w.owner.accessToken }),
      400,
      'validation_failed',
    );
    expectProblem(
      await request(t.app, 'GET', `${url}?cursor=zzz`, { token: w.owner.accessToken }),
      400,
      'validation_failed',
    );
    expectProblem(
      await request(t.app, 'GET', `${url}?role=owner`, { token: w.owner.accessToken }),
      400,
      'validation_failed',
    );
    expectProblem(await request(t.app, 'GET', url), 401, 'unauthenticated');
    const root = await createSuperuser(t.app);
    expect((await request(t.app, 'GET', url, { token: root.accessToken })).json().data).toHaveLength(4);
  });

  it('serves a page deep in a large list from the (tenant_id, id) key, without OFFSET', async () => {
    const w = await world();
    // A tenant holding a tenth of a shared server's memberships, interleaved in time with nine
    // others': the plan must come from the keyset index, not from walking everyone's rows.
    const base = Date.now() - 100_000_000;
    const people = Array.from({ length: 1500 }, (_, i) => ({
      id: uuidv7(base + i * 10_000),
      email: `bulk-${w.tenant.id.slice(-6)}-${i}@example.test`,
      passwordHash: 'x',
    }));
    for (let i = 0; i < people.length; i += 500)
      await db()
        .insert(users)
        .values(people.slice(i, i + 500));
    const neighbours = await db()
      .insert(tenants)
      .values(
        Array.from({ length: 9 }, (_, i) => ({ name: `n${i}`, slug: `n${i}-${w.tenant.id.slice(-12)}` })),
      )
      .returning({ id: tenants.id });
    const tenantIds = [w.tenant.id, ...neighbours.map((n) => n.id)];
    const rows = people.flatMap((p, i) =>
      tenantIds.map((tenantId, k) => ({ id: uuidv7(base + i * 10_000 + k), tenantId, userId: p.id })),
    );
    for (let i = 0; i < rows.length; i += 1000)
      await db()
        .insert(memberships)
        .values(rows.slice(i, i + 1000));
    await db().execute(sql`analyze memberships`);
    await db().execute(sql`analyze users`);

    const url = `/v1/tenants/${w.tenant.id}/members?limit=100`;
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const response: Response = await request(t.app, 'GET', cursor ? `${url}&cursor=${cursor}` : url, {
        token: w.owner.accessToken,
      });
      expect(response.statusCode).toBe(200);
      cursor = response.json().nextCursor;
    }
    expect(cursor).toEqual(expect.any(String));
    const before = Buffer.from(cursor!, 'base64url').toString().slice(3);

    const plan = await queryRows<Record<string, string>>(
      db(),
      explained(membersPageQuery(w.tenant.id, { before, limit: 100 })),
    );
    const text = plan.map((row) => Object.values(row).join(' ')).join('\n');
    expect(text).toContain('memberships_pkey');
    expect(text).not.toMatch(/offset/i);
    expect(text).not.toMatch(/Seq Scan on memberships/);
    // The index hands rows over in page order: the page is not sorted, so nothing before the cursor
    // is read. (Each member's few roles are sorted by name in the roles subplan, after the page.)
    const pagePlan = text.split('SubPlan')[0];
    expect(pagePlan).toContain('memberships_pkey');
    expect(pagePlan).not.toMatch(/\bSort\b/);
  });
});

describe('GET /v1/tenants/:tenantId/members/:userId', () => {
  it('answers the membership; 404 for a non-member and for another tenant’s member', async () => {
    const w = await world();
    const url = (userId: string) => `/v1/tenants/${w.tenant.id}/members/${userId}`;
    const response = await request(t.app, 'GET', url(w.admin.user.id), { token: w.member.accessToken });
    expect(response.json()).toEqual({
      user: { id: w.admin.user.id, email: w.admin.email, name: 'Person 2' },
      roles: [{ id: w.tenant.roles.admin, name: 'admin' }],
      createdAt: expect.any(String),
    });
    expectProblem(
      await request(t.app, 'GET', url(w.outsider.user.id), { token: w.owner.accessToken }),
      404,
      'not_found',
    );
    expectProblem(await request(t.app, 'GET', url(NOBODY), { token: w.owner.accessToken }), 404, 'not_found');
    expectProblem(
      await request(t.app, 'GET', url('me'), { token: w.owner.accessToken }),
      400,
      'validation_failed',
    );
    const denied = await request(t.app, 'GET', url(w.updater.user.id), { token: w.updater.accessToken });
    expectProblem(denied, 403, 'forbidden');
    expect(denied.json().detail).toContain('members:read');
    expectProblem(
      await request(t.app, 'GET', url(w.owner.user.id), { token: w.outsider.accessToken }),
      404,
      'not_found',
    );
  });
});

describe('GET /v1/tenants/:tenantId/members/:userId/permissions', () => {
  it('answers sorted keys; yourself without members:read; others need it', async () => {
    const w = await world();
    const url = (userId: string) => `/v1/tenants/${w.tenant.id}/members/${userId}/permissions`;
    const own = await request(t.app, 'GET', url(w.updater.user.id), { token: w.updater.accessToken });
    expect(own.statusCode, own.body).toBe(200);
    expect(own.json()).toEqual({ permissions: ['members:update'] });
    const member = await request(t.app, 'GET', url(w.member.user.id), { token: w.admin.accessToken });
    expect(member.json()).toEqual({ permissions: ['members:read', 'roles:read', 'tenant:read'] });
    const owner = (await request(t.app, 'GET', url(w.owner.user.id), { token: w.owner.accessToken })).json();
    expect(owner.permissions).toContain('tenant:delete');
    expect(owner.permissions).toEqual([...owner.permissions].sort());
    const admin = (await request(t.app, 'GET', url(w.admin.user.id), { token: w.admin.accessToken })).json();
    expect(admin.permissions).toEqual(owner.permissions.filter((k: string) => k !== 'tenant:delete'));

    const denied = await request(t.app, 'GET', url(w.owner.user.id), { token: w.updater.accessToken });
    expectProblem(denied, 403, 'forbidden');
    expect(denied.json().detail).toContain('members:read');
    expectProblem(
      await request(t.app, 'GET', url(w.outsider.user.id), { token: w.owner.accessToken }),
      404,
      'not_found',
    );
    // Self does not open a tenant one is not in.
    expectProblem(
      await request(t.app, 'GET', url(w.outsider.user.id), { token: w.outsider.accessToken }),
      404,
      'not_found',
    );
  });
});

describe('PUT /v1/tenants/:tenantId/members/:userId/roles', () => {
  const put = (w: World, caller: SignedIn, userId: string, roleIds: unknown) =>
    request(t.app, 'PUT', `/v1/tenants/${w.tenant.id}/members/${userId}/roles`, {
      token: caller.accessToken,
      body: { roleIds },
    });

  it('replaces the set and answers the membership; applies on the next request', async () => {
    const w = await world();
    const auditor = await customRole(w.tenant.id, 'auditor', ['audit:read']);
    const response = await put(w, w.admin, w.member.user.id, [auditor, w.tenant.roles.admin, auditor]);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      user: { id: w.member.user.id },
      roles: [
        { id: w.tenant.roles.admin, name: 'admin' },
        { id: auditor, name: 'auditor' },
      ],
    });
    expect(await roleIdsOf(w.tenant.id, w.member.user.id)).toEqual([auditor, w.tenant.roles.admin].sort());
    // Promoted: may rename the tenant now. Demoted again: may not, at once.
    const rename = () =>
      request(t.app, 'PATCH', `/v1/tenants/${w.tenant.id}`, {
        token: w.member.accessToken,
        body: { name: 'New' },
      });
    expect((await rename()).statusCode).toBe(200);
    expect((await put(w, w.admin, w.member.user.id, [w.tenant.roles.member])).statusCode).toBe(200);
    expectProblem(await rename(), 403, 'forbidden');
  });

  it('refuses another tenant’s role or an unknown id with 400 naming /roleIds, changing nothing', async () => {
    const w = await world();
    for (const roleIds of [[w.other.roles.member], [w.tenant.roles.admin, NOBODY], [], ['not-a-uuid']]) {
      const response = await put(w, w.owner, w.member.user.id, roleIds);
      expectProblem(response, 400, 'validation_failed');
      expect(response.json().errors.map((e: { path: string }) => e.path.slice(0, 8))).toContain('/roleIds');
    }
    expectProblem(
      await request(t.app, 'PUT', `/v1/tenants/${w.tenant.id}/members/${w.member.user.id}/roles`, {
        token: w.owner.accessToken,
        body: { roleIds: [w.tenant.roles.admin], extra: true },
      }),
      400,
      'validation_failed',
    );
    expect(await roleIdsOf(w.tenant.id, w.member.user.id)).toEqual([w.tenant.roles.member]);
  });

  it('answers 404 for a non-member target, 403 naming members:update, 404 to outsiders', async () => {
    const w = await world();
    expectProblem(await put(w, w.owner, w.outsider.user.id, [w.tenant.roles.member]), 404, 'not_found');
    expect(
      await db().select().from(memberships).where(eq(memberships.userId, w.outsider.user.id)),
    ).toHaveLength(1);
    const denied = await put(w, w.member, w.member.user.id, [w.tenant.roles.admin]);
    expectProblem(denied, 403, 'forbidden');
    expect(denied.json().detail).toContain('members:update');
    expectProblem(await put(w, w.outsider, w.member.user.id, [w.tenant.roles.admin]), 404, 'not_found');
    expect(await roleIdsOf(w.tenant.id, w.member.user.id)).toEqual([w.tenant.roles.member]);
  });

  it('refuses to grant a role carrying permissions the caller lacks (403 escalation naming them)', async () => {
    const w = await world();
    // The updater holds members:update only: even `member` carries more.
    const response = await put(w, w.updater, w.member.user.id, [w.tenant.roles.member, w.updaterRole]);
    expect(response.statusCode).toBe(200);
    const escalate = await put(w, w.updater, w.member.user.id, [w.tenant.roles.admin]);
    expectProblem(escalate, 403, 'escalation');
    expect(escalate.json().detail).toContain('members:read');
    expect(escalate.json().detail).toContain('tenant:update');
    // An admin cannot hand out tenant:delete through a custom role either.
    const deleter = await customRole(w.tenant.id, 'deleter', ['tenant:delete']);
    const viaCustom = await put(w, w.admin, w.member.user.id, [deleter]);
    expectProblem(viaCustom, 403, 'escalation');
    expect(viaCustom.json().detail).toContain('tenant:delete');
    // Keeping a role one could not grant is no escalation: only what is added counts.
    const keep = await put(w, w.updater, w.member.user.id, [w.updaterRole, w.tenant.roles.member]);
    expect(keep.statusCode, keep.body).toBe(200);
    expect(await roleIdsOf(w.tenant.id, w.member.user.id)).toEqual(
      [w.tenant.roles.member, w.updaterRole].sort(),
    );
  });

  it('lets only owners grant or revoke owner', async () => {
    const w = await world();
    const grant = await put(w, w.admin, w.member.user.id, [w.tenant.roles.owner]);
    expectProblem(grant, 403, 'escalation');
    expect(grant.json().detail).toMatch(/owner/);
    const revoke = await put(w, w.admin, w.owner.user.id, [w.tenant.roles.admin]);
    expectProblem(revoke, 403, 'escalation');
    expect(await roleIdsOf(w.tenant.id, w.owner.user.id)).toEqual([w.tenant.roles.owner]);

    expect((await put(w, w.owner, w.admin.user.id, [w.tenant.roles.owner])).statusCode).toBe(200);
    // Now an owner, the former admin may revoke the first owner's role.
    const demote = await put(w, w.admin, w.owner.user.id, [w.tenant.roles.member]);
    expect(demote.statusCode, demote.body).toBe(200);
    expect(await roleIdsOf(w.tenant.id, w.owner.user.id)).toEqual([w.tenant.roles.member]);
  });

  it('keeps the last owner (409 last_owner); a superuser may grant owner', async () => {
    const w = await world();
    const last = await put(w, w.owner, w.owner.user.id, [w.tenant.roles.admin]);
    expectProblem(last, 409, 'last_owner');
    expect(await roleIdsOf(w.tenant.id, w.owner.user.id)).toEqual([w.tenant.roles.owner]);
    // Adding a role beside owner is fine.
    const both = await put(w, w.owner, w.owner.user.id, [w.tenant.roles.owner, w.tenant.roles.admin]);
    expect(both.statusCode).toBe(200);

    const root = await createSuperuser(t.app);
    expect((await put(w, root, w.member.user.id, [w.tenant.roles.owner])).statusCode).toBe(200);
    expect((await put(w, w.owner, w.owner.user.id, [w.tenant.roles.member])).statusCode).toBe(200);
    expect(await roleIdsOf(w.tenant.id, w.member.user.id)).toEqual([w.tenant.roles.owner]);
  });
});

describe('DELETE /v1/tenants/:tenantId/members/:userId', () => {
  const remove = (w: World, caller: SignedIn, userId: string) =>
    request(t.app, 'DELETE', `/v1/tenants/${w.tenant.id}/members/${userId}`, { token: caller.accessToken });

  it('removes a member with members:remove; the removed member is a stranger on the next request', async () => {
    const w = await world();
    const url = `/v1/tenants/${w.tenant.id}`;
    expect((await request(t.app, 'GET', url, { token: w.member.accessToken })).statusCode).toBe(200);
    const response = await remove(w, w.admin, w.member.user.id);
    expect(response.statusCode, response.body).toBe(204);
    expect(
      await db()
        .select()
        .from(memberships)
        .where(and(eq(memberships.tenantId, w.tenant.id), eq(memberships.userId, w.member.user.id))),
    ).toEqual([]);
    expect(await roleIdsOf(w.tenant.id, w.member.user.id)).toEqual([]);
    expectProblem(await request(t.app, 'GET', url, { token: w.member.accessToken }), 404, 'not_found');
    expectProblem(await remove(w, w.admin, w.member.user.id), 404, 'not_found');
  });

  it('lets a member leave without members:remove, but not remove others (403 naming it)', async () => {
    const w = await world();
    const denied = await remove(w, w.member, w.admin.user.id);
    expectProblem(denied, 403, 'forbidden');
    expect(denied.json().detail).toContain('members:remove');
    expect((await remove(w, w.member, w.member.user.id)).statusCode).toBe(204);
    expect(await roleIdsOf(w.tenant.id, w.member.user.id)).toEqual([]);
    // An outsider cannot "leave" a tenant they are not in, nor learn it exists.
    expectProblem(await remove(w, w.outsider, w.outsider.user.id), 404, 'not_found');
  });

  it('refuses the last owner leaving (409 last_owner) and non-owners removing an owner (403 escalation)', async () => {
    const w = await world();
    expectProblem(await remove(w, w.owner, w.owner.user.id), 409, 'last_owner');
    expectProblem(await remove(w, w.admin, w.owner.user.id), 403, 'escalation');
    expect(await roleIdsOf(w.tenant.id, w.owner.user.id)).toEqual([w.tenant.roles.owner]);
    const promote = await request(
      t.app,
      'PUT',
      `/v1/tenants/${w.tenant.id}/members/${w.member.user.id}/roles`,
      {
        token: w.owner.accessToken,
        body: { roleIds: [w.tenant.roles.owner] },
      },
    );
    expect(promote.statusCode).toBe(200);
    expectProblem(await remove(w, w.admin, w.owner.user.id), 403, 'escalation');
    expect((await remove(w, w.owner, w.owner.user.id)).statusCode).toBe(204);
    expectProblem(await remove(w, w.member, w.member.user.id), 409, 'last_owner');
  });

  it('answers 400 for a malformed id and 401 without a token', async () => {
    const w = await world();
    expectProblem(
      await request(t.app, 'DELETE', `/v1/tenants/${w.tenant.id}/members/nobody`, {
        token: w.owner.accessToken,
      }),
      400,
      'validation_failed',
    );
    expectProblem(
      await request(t.app, 'DELETE', `/v1/tenants/${w.tenant.id}/members/${w.member.user.id}`),
      401,
      'unauthenticated',
    );
  });
});
