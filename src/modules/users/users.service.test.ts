import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, request, type TestApp } from '../../../test/app.js';
import { createSuperuser, createUser, GOOD_PASSWORD, signIn, uniqueEmail } from '../../../test/factories.js';
import { sessions, users } from '../../db/schema/index.js';
import { ValidationError } from '../../domain/errors.js';

const ENV = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };
const ADMIN_PASSWORD = 'copper-heron-meadow-58';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: ENV });
});
afterAll(() => t.close());

async function superusers() {
  return t.app.container.db.select().from(users).where(eq(users.isSuperuser, true));
}

async function byEmail(email: string) {
  return t.app.container.users.findByEmail(email);
}

const login = (email: string, password: string) =>
  request(t.app, 'POST', '/v1/auth/login', { body: { email, password } });

describe('UserService.bootstrapAdmin', () => {
  // "Is there a superuser yet?" must start from nothing: each test starts with no users at all
  // (sessions go with them: the foreign keys cascade).
  beforeEach(async () => {
    await t.app.container.db.delete(users);
  });

  it("creates a verified superuser when there is none ('created'), then answers 'exists'", async () => {
    const email = uniqueEmail('Boot').toUpperCase();
    expect(await t.app.container.users.bootstrapAdmin(`  ${email} `, ADMIN_PASSWORD)).toBe('created');
    const made = await byEmail(email);
    expect(made).toMatchObject({
      email: email.toLowerCase(),
      isSuperuser: true,
      isActive: true,
      emailVerified: true,
    });
    expect(made?.passwordHash).toMatch(/^\$argon2id\$/);
    const signedIn = await login(email, ADMIN_PASSWORD);
    expect(signedIn.statusCode, signedIn.body).toBe(200);
    const list = await request(t.app, 'GET', '/v1/users', { token: signedIn.json().accessToken });
    expect(list.statusCode).toBe(200);

    // Restarting with the same settings, or different ones, creates nothing more.
    expect(await t.app.container.users.bootstrapAdmin(email, ADMIN_PASSWORD)).toBe('exists');
    const other = uniqueEmail('second-boot');
    expect(await t.app.container.users.bootstrapAdmin(other, ADMIN_PASSWORD)).toBe('exists');
    expect(await byEmail(other)).toBeUndefined();
    expect(await superusers()).toHaveLength(1);
  });

  it("answers 'email_taken' and promotes nobody when the email is a regular user's", async () => {
    const squatter = await createUser(t.app, { password: GOOD_PASSWORD });
    const outcome = await t.app.container.users.bootstrapAdmin(squatter.email.toUpperCase(), ADMIN_PASSWORD);
    expect(outcome).toBe('email_taken');
    const after = await byEmail(squatter.email);
    expect(after?.isSuperuser).toBe(false);
    expect(after?.passwordHash).toBe(squatter.user.passwordHash);
    expect(await superusers()).toEqual([]);
    expect((await login(squatter.email, GOOD_PASSWORD)).statusCode).toBe(200);
    expect((await login(squatter.email, ADMIN_PASSWORD)).statusCode).toBe(401);
  });

  it("answers 'exists' when a superuser exists, even if the email is a regular user's", async () => {
    await createSuperuser(t.app);
    const regular = await createUser(t.app);
    expect(await t.app.container.users.bootstrapAdmin(regular.email, ADMIN_PASSWORD)).toBe('exists');
    expect((await byEmail(regular.email))?.isSuperuser).toBe(false);
  });

  it('does not count an inactive superuser: one that cannot sign in administers nothing', async () => {
    // Deactivated in the database: through the service the only superuser cannot be deactivated.
    const dormant = await createUser(t.app, { isSuperuser: true });
    await t.app.container.db.update(users).set({ isActive: false }).where(eq(users.id, dormant.user.id));
    const email = uniqueEmail('boot-after-dormant');
    expect(await t.app.container.users.bootstrapAdmin(email, ADMIN_PASSWORD)).toBe('created');
    expect((await byEmail(email))?.isSuperuser).toBe(true);
  });

  it('refuses a common password and creates nothing', async () => {
    const email = uniqueEmail('weak-boot');
    const error = await t.app.container.users.bootstrapAdmin(email, 'password123').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe('password.too_common');
    expect(await byEmail(email)).toBeUndefined();
  });

  it('creates exactly one superuser when instances start together with the same settings', async () => {
    const email = uniqueEmail('race-boot');
    const outcomes = await Promise.all(
      Array.from({ length: 4 }, () => t.app.container.users.bootstrapAdmin(email, ADMIN_PASSWORD)),
    );
    expect(outcomes.sort()).toEqual(['created', 'exists', 'exists', 'exists']);
    expect(await superusers()).toHaveLength(1);
  });

  it('creates exactly one superuser when instances start together with different settings', async () => {
    const emails = [uniqueEmail('race-a'), uniqueEmail('race-b'), uniqueEmail('race-c')];
    const outcomes = await Promise.all(
      emails.map((email) => t.app.container.users.bootstrapAdmin(email, ADMIN_PASSWORD)),
    );
    expect(outcomes.sort()).toEqual(['created', 'exists', 'exists']);
    expect(await superusers()).toHaveLength(1);
  });
});

describe('UserService.createOrPromoteAdmin', () => {
  it("creates a verified superuser for a new email ('created')", async () => {
    const email = uniqueEmail('Cli').toUpperCase();
    expect(await t.app.container.users.createOrPromoteAdmin(email, ADMIN_PASSWORD)).toBe('created');
    expect(await byEmail(email)).toMatchObject({
      email: email.toLowerCase(),
      isSuperuser: true,
      isActive: true,
      emailVerified: true,
    });
    expect((await login(email, ADMIN_PASSWORD)).statusCode).toBe(200);
  });

  it("promotes an existing user, sets the password and ends their old sessions ('promoted')", async () => {
    const existing = await createUser(t.app, { password: GOOD_PASSWORD });
    const a = await signIn(t.app, existing);
    const b = await signIn(t.app, existing);
    // Cache both sessions as a regular user's.
    expect((await request(t.app, 'GET', '/v1/users', { token: a.accessToken })).statusCode).toBe(403);
    expect((await request(t.app, 'GET', '/v1/users/me', { token: b.accessToken })).statusCode).toBe(200);

    const outcome = await t.app.container.users.createOrPromoteAdmin(
      existing.email.toUpperCase(),
      ADMIN_PASSWORD,
    );
    expect(outcome).toBe('promoted');
    const after = await byEmail(existing.email);
    expect(after).toMatchObject({ id: existing.user.id, isSuperuser: true, isActive: true });
    expect(after?.passwordHash).not.toBe(existing.user.passwordHash);

    for (const old of [a, b]) {
      const me = await request(t.app, 'GET', '/v1/users/me', { token: old.accessToken });
      expect(me.statusCode).toBe(401);
      expect(me.json().code).toBe('token_invalid');
      const refreshed = await request(t.app, 'POST', '/v1/auth/refresh', {
        body: { refreshToken: old.refreshToken },
      });
      expect(refreshed.statusCode).toBe(401);
    }
    const ended = await t.app.container.db
      .select()
      .from(sessions)
      .where(and(eq(sessions.userId, existing.user.id), eq(sessions.revokedReason, 'password_changed')));
    expect(ended).toHaveLength(2);

    expect((await login(existing.email, GOOD_PASSWORD)).statusCode).toBe(401);
    const fresh = await login(existing.email, ADMIN_PASSWORD);
    expect(fresh.statusCode).toBe(200);
    expect((await request(t.app, 'GET', '/v1/users', { token: fresh.json().accessToken })).statusCode).toBe(
      200,
    );
  });

  it('reactivates a deactivated account it promotes', async () => {
    await createSuperuser(t.app);
    const dormant = await createUser(t.app, { isActive: false });
    expect(await t.app.container.users.createOrPromoteAdmin(dormant.email, ADMIN_PASSWORD)).toBe('promoted');
    expect(await byEmail(dormant.email)).toMatchObject({ isActive: true, isSuperuser: true });
    expect((await login(dormant.email, ADMIN_PASSWORD)).statusCode).toBe(200);
  });

  it('refuses a common password, for a new or an existing account, changing nothing', async () => {
    const existing = await createUser(t.app, { password: GOOD_PASSWORD });
    const session = await signIn(t.app, existing);
    const newcomer = uniqueEmail('weak-cli');
    for (const email of [existing.email, newcomer]) {
      const error = await t.app.container.users
        .createOrPromoteAdmin(email, 'iloveyou')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).code).toBe('password.too_common');
    }
    const after = await byEmail(existing.email);
    expect(after?.isSuperuser).toBe(false);
    expect(after?.passwordHash).toBe(existing.user.passwordHash);
    expect((await request(t.app, 'GET', '/v1/users/me', { token: session.accessToken })).statusCode).toBe(
      200,
    );
    expect(await byEmail(newcomer)).toBeUndefined();
  });
});
