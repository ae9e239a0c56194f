import { eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { memberRoles, memberships, rolePermissions, roles } from '../src/db/schema/index.js';
import { uuidv7 } from '../src/domain/ids.js';
import { builtInRolePermissions } from '../src/domain/permissions.js';
import type { TenantRoute } from '../src/platform/http/authorize.js';
import { request } from './app.js';
import { createSignedInUser, createSuperuser, type SignedIn } from './factories.js';

/**
 * The shared authorization matrix: every tenant route the app registered, called by every kind of
 * principal, each answer checked against the route's declared permission. Principals and route
 * fixtures are tables, so a later feature adds a row (API-key principals, a new route's fixture)
 * and every route is tested with it.
 */

/** The permissions of the custom role held by the `custom` principal. */
export const CUSTOM_ROLE_PERMISSIONS = ['tenant:read', 'members:read', 'members:update', 'roles:read'];

export interface MatrixTenant {
  id: string;
  roleIds: { owner: string; admin: string; member: string; custom: string };
}

export interface World {
  app: FastifyInstance;
  tenant: MatrixTenant;
  /** The tenant the `otherOwner` principal owns. */
  otherTenantId: string;
  users: Record<'owner' | 'admin' | 'member' | 'custom' | 'outsider' | 'otherOwner' | 'superuser', SignedIn>;
  catalogue: string[];
  /** A new tenant where every tenant principal holds the same roles as in `tenant` (for destructive calls). */
  freshTenant(): Promise<MatrixTenant>;
  /** A new plain member of `tenantId`, to be changed or removed. */
  freshMember(tenantId: string): Promise<SignedIn>;
  /** A new custom role in `tenantId`, assigned to nobody. */
  freshRole(tenantId: string, permissions?: string[]): Promise<string>;
}

/** What a principal should get from a route. */
export type Expected = 'ok' | 'forbidden' | 'hidden' | 'unauthenticated';

export interface MatrixPrincipal {
  name: string;
  headers(world: World): Record<string, string>;
  expect(route: TenantRoute, world: World): Expected;
}

function bearer(user: SignedIn): Record<string, string> {
  return { authorization: `Bearer ${user.accessToken}` };
}

/** A principal that is a member of the tenant through built-in or custom roles. */
function member(
  name: 'owner' | 'admin' | 'member' | 'custom',
  held: (world: World) => string[],
): MatrixPrincipal {
  return {
    name,
    headers: (world) => bearer(world.users[name]),
    expect: (route, world) => (held(world).includes(route.permission) ? 'ok' : 'forbidden'),
  };
}

export const PRINCIPALS: MatrixPrincipal[] = [
  member('owner', (w) => builtInRolePermissions('owner', w.catalogue)),
  member('admin', (w) => builtInRolePermissions('admin', w.catalogue)),
  member('member', (w) => builtInRolePermissions('member', w.catalogue)),
  member('custom', () => CUSTOM_ROLE_PERMISSIONS),
  { name: 'outsider', headers: (w) => bearer(w.users.outsider), expect: () => 'hidden' },
  { name: 'other tenant owner', headers: (w) => bearer(w.users.otherOwner), expect: () => 'hidden' },
  { name: 'superuser', headers: (w) => bearer(w.users.superuser), expect: () => 'ok' },
  { name: 'anonymous', headers: () => ({}), expect: () => 'unauthenticated' },
];

export interface Call {
  /** The path with its parameters filled in. */
  url: string;
  body?: unknown;
}

/** How to make a valid request to a route, for a given tenant and principal. */
export type Fixture = (world: World, principal: MatrixPrincipal) => Promise<Call>;

const T = '/v1/tenants/:tenantId';

/** One fixture per tenant route; a route without one fails the matrix. */
export const FIXTURES: Record<string, Fixture> = {
  [`GET ${T}`]: async (w) => ({ url: `/v1/tenants/${w.tenant.id}` }),
  [`PATCH ${T}`]: async (w) => ({
    url: `/v1/tenants/${w.tenant.id}`,
    body: { name: `Renamed ${uuidv7().slice(-6)}` },
  }),
  [`DELETE ${T}`]: async (w) => ({ url: `/v1/tenants/${(await w.freshTenant()).id}` }),
  [`GET ${T}/members`]: async (w) => ({ url: `/v1/tenants/${w.tenant.id}/members` }),
  [`GET ${T}/members/:userId`]: async (w) => ({
    url: `/v1/tenants/${w.tenant.id}/members/${w.users.owner.user.id}`,
  }),
  [`GET ${T}/members/:userId/permissions`]: async (w) => ({
    url: `/v1/tenants/${w.tenant.id}/members/${w.users.owner.user.id}/permissions`,
  }),
  [`PUT ${T}/members/:userId/roles`]: async (w) => {
    const target = await w.freshMember(w.tenant.id);
    return {
      url: `/v1/tenants/${w.tenant.id}/members/${target.user.id}/roles`,
      body: { roleIds: [w.tenant.roleIds.member] },
    };
  },
  [`DELETE ${T}/members/:userId`]: async (w) => {
    const target = await w.freshMember(w.tenant.id);
    return { url: `/v1/tenants/${w.tenant.id}/members/${target.user.id}` };
  },
  [`GET ${T}/roles`]: async (w) => ({ url: `/v1/tenants/${w.tenant.id}/roles` }),
  [`GET ${T}/roles/:roleId`]: async (w) => ({
    url: `/v1/tenants/${w.tenant.id}/roles/${w.tenant.roleIds.custom}`,
  }),
  [`POST ${T}/roles`]: async (w) => ({
    url: `/v1/tenants/${w.tenant.id}/roles`,
    body: { name: `role-${uuidv7().slice(-12)}`, permissions: ['tenant:read'] },
  }),
  [`PATCH ${T}/roles/:roleId`]: async (w) => ({
    url: `/v1/tenants/${w.tenant.id}/roles/${await w.freshRole(w.tenant.id)}`,
    body: { description: 'changed by the matrix' },
  }),
  [`PUT ${T}/roles/:roleId/permissions`]: async (w) => ({
    url: `/v1/tenants/${w.tenant.id}/roles/${await w.freshRole(w.tenant.id)}/permissions`,
    body: { permissions: ['tenant:read', 'roles:read'] },
  }),
  [`DELETE ${T}/roles/:roleId`]: async (w) => ({
    url: `/v1/tenants/${w.tenant.id}/roles/${await w.freshRole(w.tenant.id)}`,
  }),
};

/** Builds the world: one tenant holding every kind of member, another tenant, an outsider, a superuser. */
export async function buildWorld(app: FastifyInstance): Promise<World> {
  const signUp = () => createSignedInUser(app);
  const [owner, admin, memberUser, custom, outsider, otherOwner, superuser] = await Promise.all([
    signUp(),
    signUp(),
    signUp(),
    signUp(),
    signUp(),
    signUp(),
    createSuperuser(app),
  ]);
  const users = { owner, admin, member: memberUser, custom, outsider, otherOwner, superuser };
  const { db, permissions } = app.container;

  const addMember = async (tenantId: string, userId: string, roleId: string) => {
    await db.insert(memberships).values({ tenantId, userId });
    await db.insert(memberRoles).values({ tenantId, userId, roleId });
    permissions.apply(`member:${tenantId}:${userId}`);
  };
  const freshRole = async (tenantId: string, keys: string[] = ['tenant:read']) => {
    const [role] = await db
      .insert(roles)
      .values({ tenantId, name: `matrix-${uuidv7().slice(-12)}` })
      .returning({ id: roles.id });
    await db
      .insert(rolePermissions)
      .values(keys.map((permissionKey) => ({ tenantId, roleId: role!.id, permissionKey })));
    return role!.id;
  };
  const createTenant = async (creator: SignedIn): Promise<string> => {
    const response = await request(app, 'POST', '/v1/tenants', {
      token: creator.accessToken,
      body: { name: `Matrix ${uuidv7().slice(-8)}` },
    });
    if (response.statusCode !== 201)
      throw new Error(`tenant creation failed: ${response.statusCode} ${response.body}`);
    return (response.json() as { id: string }).id;
  };
  const freshTenant = async (): Promise<MatrixTenant> => {
    const id = await createTenant(owner);
    const builtIn = await db
      .select({ id: roles.id, kind: roles.builtIn })
      .from(roles)
      .where(eq(roles.tenantId, id));
    const roleOf = (kind: 'owner' | 'admin' | 'member') => builtIn.find((r) => r.kind === kind)!.id;
    const roleIds = {
      owner: roleOf('owner'),
      admin: roleOf('admin'),
      member: roleOf('member'),
      custom: await freshRole(id, CUSTOM_ROLE_PERMISSIONS),
    };
    await addMember(id, admin.user.id, roleIds.admin);
    await addMember(id, memberUser.user.id, roleIds.member);
    await addMember(id, custom.user.id, roleIds.custom);
    return { id, roleIds };
  };

  const tenant = await freshTenant();
  const otherTenantId = await createTenant(otherOwner);
  const world: World = {
    app,
    tenant,
    otherTenantId,
    users,
    catalogue: await permissions.catalogue(),
    freshTenant,
    freshMember: async (tenantId) => {
      const user = await signUp();
      const roleId = tenantId === tenant.id ? tenant.roleIds.member : (await freshTenant()).roleIds.member;
      await addMember(tenantId, user.user.id, roleId);
      return user;
    },
    freshRole,
  };
  return world;
}

export function statusMatches(expected: Expected, status: number): boolean {
  switch (expected) {
    case 'ok':
      return status >= 200 && status < 300;
    case 'forbidden':
      return status === 403;
    case 'hidden':
      return status === 404;
    case 'unauthenticated':
      return status === 401;
  }
}
