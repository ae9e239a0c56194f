import { eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import {
  apiKeys as apiKeysTable,
  memberRoles,
  memberships,
  rolePermissions,
  roles,
} from '../src/db/schema/index.js';
import { uuidv7 } from '../src/domain/ids.js';
import { builtInRolePermissions } from '../src/domain/permissions.js';
import { SYSTEM_CONTEXT } from '../src/modules/audit/audit-context.js';
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
  /** API keys of this tenant, one of each kind, for the key principals. */
  keys: Record<KeyKind, MatrixKey>;
}

/** The kinds of API key every matrix tenant holds (see KEY_SPECS). */
export type KeyKind = 'read' | 'write' | 'admin' | 'narrowed' | 'revoked' | 'expired';

export interface MatrixKey {
  id: string;
  key: string;
  permissions: string[];
}

/** How each kind is made: a scope, maybe narrowed; revoked and expired keys would hold admin. */
const KEY_SPECS: Record<KeyKind, { scope: string; permissions?: string[] }> = {
  read: { scope: 'read' },
  write: { scope: 'write' },
  admin: { scope: 'admin' },
  narrowed: { scope: 'admin', permissions: ['members:read'] },
  revoked: { scope: 'admin' },
  expired: { scope: 'admin' },
};

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
  /** A live admin key of `otherTenantId`. */
  otherTenantKey: string;
  /** The keys of every tenant the world made, by tenant id. */
  keysByTenant: Map<string, MatrixTenant['keys']>;
  /** A new live key of `tenantId` (read scope, tenant:read only), to be revoked or rotated. */
  freshApiKey(tenantId: string): Promise<string>;
}

/** What a principal should get from a route. */
export type Expected = 'ok' | 'forbidden' | 'hidden' | 'unauthenticated';

export interface MatrixPrincipal {
  name: string;
  /** The credentials to send; `call` says which tenant the request is for (API keys are per tenant). */
  headers(world: World, call: Call): Record<string, string>;
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
  apiKey('read'),
  apiKey('write'),
  apiKey('admin'),
  apiKey('narrowed'),
  apiKey('revoked'),
  apiKey('expired'),
  {
    name: 'other tenant admin key',
    headers: (w) => ({ authorization: `Bearer ${w.otherTenantKey}` }),
    expect: () => 'hidden',
  },
];

/**
 * A key of the tenant the call is for: it holds exactly its permission set there; revoked and
 * expired keys are refused before anything else.
 */
function apiKey(kind: KeyKind): MatrixPrincipal {
  const keysFor = (world: World, call?: Call) => {
    const tenantId = call ? /^\/v1\/tenants\/([^/?]+)/.exec(call.url)?.[1] : undefined;
    return world.keysByTenant.get(tenantId ?? world.tenant.id) ?? world.tenant.keys;
  };
  return {
    name: `${kind} key`,
    headers: (world, call) => ({ authorization: `Bearer ${keysFor(world, call)[kind].key}` }),
    expect: (route, world) => {
      if (kind === 'revoked' || kind === 'expired') return 'unauthenticated';
      return world.tenant.keys[kind].permissions.includes(route.permission) ? 'ok' : 'forbidden';
    },
  };
}

export interface Call {
  /** The path with its parameters filled in. */
  url: string;
  body?: unknown;
}

/** How to make a valid request to a route, for a given tenant and principal. */
export type Fixture = (world: World, principal: MatrixPrincipal) => Promise<Call>;

const T = '/v1/tenants/:tenantId';

/** A new pending invitation in the matrix tenant, made straight through the service. */
async function freshInvitation(w: World): Promise<string> {
  const invitation = await w.app.container.invitations.create(
    SYSTEM_CONTEXT,
    {
      userId: w.users.superuser.user.id,
      isSuperuser: true,
      access: { tenantId: w.tenant.id, permissions: new Set(w.catalogue), isOwner: true },
    },
    w.tenant.id,
    { email: `invitee-${uuidv7().slice(-12)}@example.test`, roleIds: [w.tenant.roleIds.member] },
  );
  return invitation.id;
}

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
  [`POST ${T}/api-keys`]: async (w) => ({
    url: `/v1/tenants/${w.tenant.id}/api-keys`,
    body: { name: 'matrix key', scope: 'read', permissions: ['tenant:read'] },
  }),
  [`GET ${T}/api-keys`]: async (w) => ({ url: `/v1/tenants/${w.tenant.id}/api-keys` }),
  [`GET ${T}/api-keys/:id`]: async (w) => ({
    url: `/v1/tenants/${w.tenant.id}/api-keys/${w.tenant.keys.read.id}`,
  }),
  [`DELETE ${T}/api-keys/:id`]: async (w) => ({
    url: `/v1/tenants/${w.tenant.id}/api-keys/${await w.freshApiKey(w.tenant.id)}`,
  }),
  [`POST ${T}/api-keys/:id/rotate`]: async (w) => ({
    url: `/v1/tenants/${w.tenant.id}/api-keys/${await w.freshApiKey(w.tenant.id)}/rotate`,
  }),
  [`POST ${T}/invitations`]: async (w) => ({
    url: `/v1/tenants/${w.tenant.id}/invitations`,
    body: { email: `invitee-${uuidv7().slice(-12)}@example.test`, roleIds: [w.tenant.roleIds.member] },
  }),
  [`GET ${T}/invitations`]: async (w) => ({ url: `/v1/tenants/${w.tenant.id}/invitations` }),
  [`DELETE ${T}/invitations/:id`]: async (w) => ({
    url: `/v1/tenants/${w.tenant.id}/invitations/${await freshInvitation(w)}`,
  }),
  [`POST ${T}/invitations/:id/resend`]: async (w) => ({
    url: `/v1/tenants/${w.tenant.id}/invitations/${await freshInvitation(w)}/resend`,
  }),
  [`GET ${T}/audit-log`]: async (w) => ({ url: `/v1/tenants/${w.tenant.id}/audit-log?limit=5` }),
  [`GET ${T}/audit-log/verify`]: async (w) => ({ url: `/v1/tenants/${w.tenant.id}/audit-log/verify` }),
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
  const { db, permissions, apiKeys, apiKeyCache } = app.container;

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
    const keys = await issueKeys(id);
    keysByTenant.set(id, keys);
    return { id, roleIds, keys };
  };

  const issueKey = async (
    tenantId: string,
    creator: SignedIn,
    body: { scope: string; permissions?: string[] },
  ): Promise<MatrixKey> => {
    const response = await request(app, 'POST', `/v1/tenants/${tenantId}/api-keys`, {
      token: creator.accessToken,
      body: { name: `matrix ${body.scope}`, ...body },
    });
    if (response.statusCode !== 201)
      throw new Error(`key creation failed: ${response.statusCode} ${response.body}`);
    const { apiKey, key } = response.json() as { apiKey: { id: string; permissions: string[] }; key: string };
    return { id: apiKey.id, key, permissions: apiKey.permissions };
  };
  const keysByTenant = new Map<string, MatrixTenant['keys']>();
  const issueKeys = async (tenantId: string): Promise<MatrixTenant['keys']> => {
    const kinds = Object.keys(KEY_SPECS) as KeyKind[];
    const issued = await Promise.all(kinds.map((kind) => issueKey(tenantId, owner, KEY_SPECS[kind])));
    const keys = Object.fromEntries(kinds.map((kind, i) => [kind, issued[i]!])) as MatrixTenant['keys'];
    await apiKeys.revoke(SYSTEM_CONTEXT, tenantId, keys.revoked.id);
    // Straight to the table: the API refuses an expiry in the past, and time cannot pass here.
    await db
      .update(apiKeysTable)
      .set({ expiresAt: new Date(Date.now() - 60_000) })
      .where(eq(apiKeysTable.id, keys.expired.id));
    apiKeyCache.apply(`key:${keys.expired.id}`);
    return keys;
  };

  const tenant = await freshTenant();
  const otherTenantId = await createTenant(otherOwner);
  const otherTenantKey = (await issueKey(otherTenantId, otherOwner, { scope: 'admin' })).key;
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
    otherTenantKey,
    keysByTenant,
    freshApiKey: async (tenantId) =>
      (await issueKey(tenantId, owner, { scope: 'read', permissions: ['tenant:read'] })).id,
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
