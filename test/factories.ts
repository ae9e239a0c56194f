import { randomBytes } from 'node:crypto';
import { and, eq, inArray, isNotNull } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { roles as rolesTable, type UserRow, users as usersTable } from '../src/db/schema/index.js';
import { isUuid } from '../src/domain/ids.js';
import { request } from './app.js';

let sequence = 0;

/** A unique address per call, so tests never collide, even on a shared database. */
export function uniqueEmail(label = 'user'): string {
  sequence++;
  return `${label}-${sequence}-${randomBytes(3).toString('hex')}@example.test`;
}

/** A password that passes the policy. */
export const GOOD_PASSWORD = 'violet-otter-harbour-42';

export interface TestUser {
  user: UserRow;
  email: string;
  password: string;
}

/** Inserts a user through the service (the same path as the API), without signing in. */
export async function createUser(
  app: FastifyInstance,
  overrides: {
    email?: string;
    password?: string;
    name?: string;
    isSuperuser?: boolean;
    isActive?: boolean;
  } = {},
): Promise<TestUser> {
  const email = overrides.email ?? uniqueEmail();
  const password = overrides.password ?? GOOD_PASSWORD;
  const { users, db } = app.container;
  let user = await users.create(db, {
    email,
    password,
    name: overrides.name ?? null,
    isSuperuser: overrides.isSuperuser ?? false,
  });
  if (overrides.isActive === false) {
    // Straight to the table: the admin path would refuse to deactivate the only superuser.
    const [inactive] = await db
      .update(usersTable)
      .set({ isActive: false })
      .where(eq(usersTable.id, user.id))
      .returning();
    user = inactive!;
  }
  return { user, email, password };
}

export interface SignedIn extends TestUser {
  accessToken: string;
  refreshToken: string;
  sessionId: string;
}

/** Signs a user in through POST /v1/auth/login. */
export async function signIn(app: FastifyInstance, user: TestUser): Promise<SignedIn> {
  const response = await request(app, 'POST', '/v1/auth/login', {
    body: { email: user.email, password: user.password },
  });
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`);
  const pair = response.json() as { accessToken: string; refreshToken: string };
  const sid = JSON.parse(Buffer.from(pair.accessToken.split('.')[1]!, 'base64url').toString()).sid as string;
  return { ...user, accessToken: pair.accessToken, refreshToken: pair.refreshToken, sessionId: sid };
}

/** A new user, signed in. */
export async function createSignedInUser(
  app: FastifyInstance,
  overrides: Parameters<typeof createUser>[1] = {},
): Promise<SignedIn> {
  return signIn(app, await createUser(app, overrides));
}

/** A new superuser, signed in. */
export function createSuperuser(app: FastifyInstance): Promise<SignedIn> {
  return createSignedInUser(app, { isSuperuser: true });
}

// --- roles, permissions and authz tests: tenants seeded straight into the tables ---
// Independent of the tenants/members services, so these tests build their worlds the way the
// migration's schema allows; the rows are exactly what POST /v1/tenants writes.

import {
  memberRoles as memberRolesTable,
  memberships as membershipsTable,
  tenants as tenantsTable,
} from '../src/db/schema/index.js';

export interface SeededTenant {
  tenantId: string;
  /** The ids of the built-in roles. */
  roles: { owner: string; admin: string; member: string };
}

/** A tenant with its three built-in roles and, when given, `owner` holding the owner role. */
export async function seedTenant(app: FastifyInstance, owner?: { user: UserRow }): Promise<SeededTenant> {
  const { db } = app.container;
  const [tenant] = await db
    .insert(tenantsTable)
    .values({ name: 'Seeded', slug: `seeded-${randomBytes(6).toString('hex')}` })
    .returning();
  const rows = await db
    .insert(rolesTable)
    .values(
      (['owner', 'admin', 'member'] as const).map((name) => ({ tenantId: tenant!.id, name, builtIn: name })),
    )
    .returning();
  const id = (name: string) => rows.find((r) => r.name === name)!.id;
  const seeded = {
    tenantId: tenant!.id,
    roles: { owner: id('owner'), admin: id('admin'), member: id('member') },
  };
  if (owner) await seedMember(app, seeded.tenantId, owner.user.id, [seeded.roles.owner]);
  return seeded;
}

/** Makes `userId` a member holding `roleIds` (adding to any roles held), and drops cached access. */
export async function seedMember(
  app: FastifyInstance,
  tenantId: string,
  userId: string,
  roleIds: string[],
): Promise<void> {
  const { db, permissions } = app.container;
  await db.transaction(async (tx) => {
    await tx.insert(membershipsTable).values({ tenantId, userId }).onConflictDoNothing();
    if (roleIds.length > 0)
      await tx
        .insert(memberRolesTable)
        .values(roleIds.map((roleId) => ({ tenantId, userId, roleId })))
        .onConflictDoNothing();
    await permissions.publish(tx, `member:${tenantId}:${userId}`);
  });
  permissions.apply(`member:${tenantId}:${userId}`);
}

// --- tenants and members ---

export interface TestTenant {
  id: string;
  name: string;
  slug: string;
  createdAt: string;
  updatedAt: string;
  /** The ids of the tenant's built-in roles. */
  roles: { owner: string; admin: string; member: string };
}

/** A tenant created through POST /v1/tenants by `owner`, who becomes its owner. */
export async function createTenant(
  app: FastifyInstance,
  owner: SignedIn,
  overrides: { name?: string; slug?: string } = {},
): Promise<TestTenant> {
  sequence++;
  const response = await request(app, 'POST', '/v1/tenants', {
    token: owner.accessToken,
    body: {
      name: overrides.name ?? `Tenant ${sequence}`,
      ...(overrides.slug ? { slug: overrides.slug } : {}),
    },
  });
  if (response.statusCode !== 201) {
    throw new Error(`tenant creation failed: ${response.statusCode} ${response.body}`);
  }
  const tenant = response.json() as Omit<TestTenant, 'roles'>;
  const builtIn = await app.container.db
    .select({ id: rolesTable.id, builtIn: rolesTable.builtIn })
    .from(rolesTable)
    .where(and(eq(rolesTable.tenantId, tenant.id), isNotNull(rolesTable.builtIn)));
  const roleId = (name: string) => builtIn.find((r) => r.builtIn === name)!.id;
  return { ...tenant, roles: { owner: roleId('owner'), admin: roleId('admin'), member: roleId('member') } };
}

/**
 * Makes `user` a member of the tenant through the members service (no invitation round trip).
 * `roles` are role names of the tenant (`'admin'`, a custom role's name) or role ids.
 */
export async function addMember(
  app: FastifyInstance,
  tenantId: string,
  user: { user: { id: string } },
  roles: string[] = ['member'],
): Promise<void> {
  const { db, members } = app.container;
  const ids = roles.filter(isUuid);
  const names = roles.filter((r) => !isUuid(r));
  if (names.length > 0) {
    const found = await db
      .select({ id: rolesTable.id, name: rolesTable.name })
      .from(rolesTable)
      .where(and(eq(rolesTable.tenantId, tenantId), inArray(rolesTable.name, names)));
    for (const name of names) {
      const role = found.find((r) => r.name === name);
      if (!role) throw new Error(`tenant ${tenantId} has no role named ${name}`);
      ids.push(role.id);
    }
  }
  await members.add(tenantId, user.user.id, ids);
}

// --- API keys ---

export interface IssuedKey {
  apiKey: { id: string; tenantId: string; permissions: string[]; [field: string]: unknown };
  key: string;
}

/** A key of `tenantId` made through POST /v1/tenants/:tenantId/api-keys by `creator`. */
export async function issueApiKey(
  app: FastifyInstance,
  tenantId: string,
  creator: { accessToken: string },
  body: { name?: string; scope?: string; permissions?: string[]; expiresAt?: string } = {},
): Promise<IssuedKey> {
  const response = await request(app, 'POST', `/v1/tenants/${tenantId}/api-keys`, {
    token: creator.accessToken,
    body: { name: 'Test key', scope: 'admin', ...body },
  });
  if (response.statusCode !== 201)
    throw new Error(`key creation failed: ${response.statusCode} ${response.body}`);
  return response.json() as IssuedKey;
}
