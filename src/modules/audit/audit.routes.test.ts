import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, request, type TestApp, TestClock } from '../../../test/app.js';
import {
  addMember,
  createSignedInUser,
  createSuperuser,
  createTenant,
  createUser,
  GOOD_PASSWORD,
  issueApiKey,
  type SignedIn,
} from '../../../test/factories.js';
import { queryRows } from '../../platform/db.js';
import { countEntries } from './audit.test-helpers.js';

interface Entry {
  id: string;
  action: string;
  actor: { type: string; id: string | null };
  target: { type: string | null; id: string | null };
  occurredAt: string;
  metadata: Record<string, unknown>;
}

describe('audit log routes', () => {
  let t: TestApp;
  let owner: SignedIn;
  let admin: SignedIn;
  const clock = new TestClock();
  beforeAll(async () => {
    t = await createTestApp({ clock });
    [owner, admin] = await Promise.all([createSignedInUser(t.app), createSuperuser(t.app)]);
  });
  afterAll(() => t.close());

  const page = async (url: string, token = owner.accessToken) => {
    const response = await request(t.app, 'GET', url, { token });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as { data: Entry[]; nextCursor: string | null };
  };

  it('filters by action, actor and time, and pages newest first without gaps or repeats', async () => {
    const tenant = await createTenant(t.app, owner);
    const base = `/v1/tenants/${tenant.id}`;
    const key = await issueApiKey(t.app, tenant.id, owner, { scope: 'admin' });
    const startedAt = clock.now().toISOString();
    for (let i = 0; i < 5; i++) {
      clock.advance(1);
      await request(t.app, 'POST', `${base}/roles`, {
        token: owner.accessToken,
        body: { name: `owner-role-${i}`, permissions: ['tenant:read'] },
      });
    }
    clock.advance(1);
    const middle = clock.now().toISOString();
    for (let i = 0; i < 3; i++) {
      clock.advance(1);
      await t.app.inject({
        method: 'POST',
        url: `${base}/roles`,
        headers: { 'x-api-key': key.key },
        payload: { name: `key-role-${i}`, permissions: ['tenant:read'] },
      });
    }
    // tenant.created + api_key.created + 5 + 3 role.created
    const all = await page(`${base}/audit-log?limit=100`);
    expect(all.data).toHaveLength(10);
    expect(all.data.map((e) => e.id)).toEqual([...all.data.map((e) => e.id)].sort().reverse());
    expect(all.data.at(-1)!.action).toBe('tenant.created');

    const created = await page(`${base}/audit-log?action=role.created&limit=100`);
    expect(created.data).toHaveLength(8);
    const byKey = await page(`${base}/audit-log?actorId=${key.apiKey.id}&limit=100`);
    expect(byKey.data.map((e) => e.actor)).toEqual(Array(3).fill({ type: 'api_key', id: key.apiKey.id }));
    const byOwner = await page(`${base}/audit-log?actorId=${owner.user.id}&action=role.created`);
    expect(byOwner.data).toHaveLength(5);
    const since = await page(`${base}/audit-log?since=${encodeURIComponent(middle)}&limit=100`);
    expect(since.data.map((e) => e.metadata.name)).toEqual(['key-role-2', 'key-role-1', 'key-role-0']);
    const until = await page(`${base}/audit-log?until=${encodeURIComponent(startedAt)}&limit=100`);
    expect(until.data.map((e) => e.action).sort()).toEqual(['api_key.created', 'tenant.created']);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const next: { data: Entry[]; nextCursor: string | null } = await page(
        `${base}/audit-log?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...next.data.map((e) => e.id));
      cursor = next.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.data.map((e) => e.id));

    const bad = await request(t.app, 'GET', `${base}/audit-log?since=yesterday`, {
      token: owner.accessToken,
    });
    expect(bad.statusCode).toBe(400);
  });

  it('hides the log from a member without audit:read, and from other tenants', async () => {
    const tenant = await createTenant(t.app, owner);
    const member = await createSignedInUser(t.app);
    await addMember(t.app, tenant.id, member, ['member']);
    const outsider = await createSignedInUser(t.app);
    const url = `/v1/tenants/${tenant.id}/audit-log`;
    expect((await request(t.app, 'GET', url, { token: member.accessToken })).statusCode).toBe(403);
    expect((await request(t.app, 'GET', url, { token: outsider.accessToken })).statusCode).toBe(404);
  });

  it('keeps the platform log for superusers only', async () => {
    for (const url of ['/v1/audit-log', '/v1/audit-log/verify'])
      expect((await request(t.app, 'GET', url, { token: owner.accessToken })).statusCode).toBe(403);
    const verified = await request(t.app, 'GET', '/v1/audit-log/verify', { token: admin.accessToken });
    expect(verified.json()).toMatchObject({ valid: true, firstInvalidId: null });
  });

  it('records sign-ins and failed sign-ins in the platform log, with no password or token anywhere', async () => {
    const password = 'correct-horse-battery-staple-audit-9';
    const user = await createUser(t.app, { password });
    const login = (email: string, pw: string) =>
      request(t.app, 'POST', '/v1/auth/login', {
        body: { email, password: pw },
        headers: { 'user-agent': 'audit-test-agent' },
      });
    const wrong = 'wrong-password-audit-guess-7';
    const unknownEmail = `nobody-${Date.now()}@example.test`;
    expect((await login(user.email, wrong)).statusCode).toBe(401);
    expect((await login(unknownEmail, wrong)).statusCode).toBe(401);
    const ok = await login(user.email, password);
    expect(ok.statusCode).toBe(200);
    const { accessToken, refreshToken } = ok.json();
    const key = await issueApiKey(t.app, (await createTenant(t.app, owner)).id, owner);

    const { data } = await page(`/v1/audit-log?limit=100`, admin.accessToken);
    const mine = data.filter((e) => e.target.id === user.user.id || e.target.id === null);
    const signIn = mine.find((e) => e.action === 'auth.sign_in' && e.target.id === user.user.id)!;
    expect(signIn.actor).toEqual({ type: 'user', id: user.user.id });
    expect(signIn).toMatchObject({ ip: '127.0.0.1', userAgent: 'audit-test-agent' });
    const failures = mine.filter((e) => e.action === 'auth.sign_in_failed');
    expect(failures.map((e) => e.metadata.reason).sort()).toEqual(['unknown_account', 'wrong_password']);
    expect(failures.find((e) => e.metadata.reason === 'wrong_password')!.target).toEqual({
      type: 'user',
      id: user.user.id,
    });

    const dump = JSON.stringify(await queryRows(t.app.container.db, sql`select * from audit_log`));
    const [stored] = await queryRows<{ key_hash: string }>(
      t.app.container.db,
      sql`select key_hash from api_keys where id = ${key.apiKey.id}`,
    );
    for (const secret of [
      password,
      wrong,
      GOOD_PASSWORD,
      unknownEmail,
      accessToken,
      refreshToken,
      key.key,
      key.key.slice(0, 12),
      stored!.key_hash,
    ])
      expect(dump).not.toContain(secret);
    expect(dump).not.toMatch(/tsk_|\$argon2/);
  });

  it('records user administration and signing-key rotation in the platform log', async () => {
    const user = await createUser(t.app);
    const patch = await request(t.app, 'PATCH', `/v1/users/${user.user.id}`, {
      token: admin.accessToken,
      body: { isActive: false },
    });
    expect(patch.statusCode).toBe(200);
    const created = await request(t.app, 'POST', '/v1/users', {
      token: admin.accessToken,
      body: { email: `made-${Date.now()}@example.test`, password: 'an-admin-chosen-password-3' },
    });
    expect(created.statusCode).toBe(201);
    expect(
      (await request(t.app, 'DELETE', `/v1/users/${created.json().id}`, { token: admin.accessToken }))
        .statusCode,
    ).toBe(204);
    const kid = await t.app.container.keys.rotate();

    const { data } = await page('/v1/audit-log?limit=10', admin.accessToken);
    const actions = data.map((e) => `${e.action} ${e.target.id}`);
    expect(actions).toContain(`user.deactivated ${user.user.id}`);
    expect(actions).toContain(`user.created ${created.json().id}`);
    expect(actions).toContain(`user.deleted ${created.json().id}`);
    expect(data[0]).toMatchObject({ action: 'signing_key.rotated', actor: { type: 'system', id: null } });
    expect(data[0]!.target).toEqual({ type: 'signing_key', id: kid });
    const deactivated = data.find((e) => e.action === 'user.deactivated')!;
    expect(deactivated.actor).toEqual({ type: 'user', id: admin.user.id });
    expect(deactivated.metadata).toEqual({ changes: { isActive: false } });
    expect(
      (await request(t.app, 'GET', '/v1/audit-log/verify', { token: admin.accessToken })).json(),
    ).toMatchObject({
      valid: true,
      firstInvalidId: null,
    });
  });

  it('records invitation answers in the tenant log, by the invitee', async () => {
    const tenant = await createTenant(t.app, owner);
    const invitee = await createSignedInUser(t.app);
    await t.app.container.db.execute(
      sql`update users set email_verified = true where id = ${invitee.user.id}`,
    );
    const invitation = await request(t.app, 'POST', `/v1/tenants/${tenant.id}/invitations`, {
      token: owner.accessToken,
      body: { email: invitee.email, roleIds: [tenant.roles.member] },
    });
    const before = await countEntries(t.app, tenant.id);
    const accepted = await request(t.app, 'POST', `/v1/users/me/invitations/${invitation.json().id}/accept`, {
      token: invitee.accessToken,
    });
    expect(accepted.statusCode).toBe(200);
    expect(await countEntries(t.app, tenant.id)).toBe(before + 1);
    const [entry] = (await page(`/v1/tenants/${tenant.id}/audit-log?limit=1`)).data;
    expect(entry).toMatchObject({
      action: 'invitation.accepted',
      actor: { type: 'user', id: invitee.user.id },
    });
  });
});

describe('audit of lock-outs', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { LOGIN_MAX_FAILURES: '3' } });
  });
  afterAll(() => t.close());

  it('records a sign-in lock-out in the platform log, without the guessed passwords', async () => {
    const admin = await createSuperuser(t.app);
    const user = await createUser(t.app);
    for (let i = 0; i < 4; i++)
      await request(t.app, 'POST', '/v1/auth/login', {
        body: { email: user.email, password: `wrong-guess-${i}-xyz` },
      });
    const response = await request(t.app, 'GET', '/v1/audit-log?action=auth.lockout', {
      token: admin.accessToken,
    });
    const entries = response.json().data as Entry[];
    expect(entries.find((e) => e.target.id === user.user.id)).toMatchObject({
      actor: { type: 'system', id: null },
      ip: '127.0.0.1',
      metadata: { scope: 'pair' },
    });
    const dump = JSON.stringify(await queryRows(t.app.container.db, sql`select * from audit_log`));
    expect(dump).not.toMatch(/wrong-guess/);
  });
});

describe('audit retention', () => {
  let t: TestApp;
  const clock = new TestClock(Date.parse('2026-01-01T00:00:00Z'));
  beforeAll(async () => {
    t = await createTestApp({ clock, env: { AUDIT_RETENTION_DAYS: '30' } });
  });
  afterAll(() => t.close());

  it('purges entries past AUDIT_RETENTION_DAYS and keeps the rest verifiable from the new anchor', async () => {
    const owner = await createSignedInUser(t.app);
    const tenant = await createTenant(t.app, owner);
    const addRole = (name: string) =>
      request(t.app, 'POST', `/v1/tenants/${tenant.id}/roles`, {
        token: owner.accessToken,
        body: { name, permissions: ['tenant:read'] },
      });
    for (let i = 0; i < 4; i++) await addRole(`old-${i}`);
    clock.advance(31 * 86_400);
    // The old access token has expired by now: sign in again.
    const fresh = await request(t.app, 'POST', '/v1/auth/login', {
      body: { email: owner.email, password: owner.password },
    });
    owner.accessToken = fresh.json().accessToken;
    for (let i = 0; i < 3; i++) await addRole(`new-${i}`);

    const { audit } = t.app.container;
    const purged = await audit.purge();
    // tenant log: tenant.created + 4 roles; platform log: the first sign-in.
    expect(purged.deleted).toBe(6);
    expect(await audit.verify(tenant.id)).toEqual({ valid: true, checked: 3, firstInvalidId: null });
    expect((await audit.verify(null)).valid).toBe(true);
    const { data } = await audit.list(tenant.id, { limit: 100 });
    expect(data.map((e) => e.metadata.name)).toEqual(['new-2', 'new-1', 'new-0']);
    // Appends continue the chain past the anchor, and a second purge finds nothing.
    await addRole('after-purge');
    expect(await audit.verify(tenant.id)).toEqual({ valid: true, checked: 4, firstInvalidId: null });
    expect((await audit.purge()).deleted).toBe(0);
  });
});
