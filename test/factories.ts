import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { type UserRow, users as usersTable } from '../src/db/schema/index.js';
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
