import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Response, request, type TestApp, TestClock } from '../../../test/app.js';
import { isServerDatabase } from '../../../test/database.js';
import {
  addMember,
  createSignedInUser,
  createTenant,
  GOOD_PASSWORD,
  type SignedIn,
  signIn,
  uniqueEmail,
} from '../../../test/factories.js';
import { invitations, memberships, rolePermissions, roles, users } from '../../db/schema/index.js';
import { lastMail } from '../mail/mail.test-helpers.js';

const ENV = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };

function expectProblem(response: Response, status: number, code: string): void {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.json()).toMatchObject({ status, code });
}

let t: TestApp;
const clock = new TestClock();
beforeAll(async () => {
  t = await createTestApp({ env: ENV, clock });
});
afterAll(() => t?.close());

async function verify(user: SignedIn): Promise<void> {
  await t.app.container.db.update(users).set({ emailVerified: true }).where(eq(users.id, user.user.id));
}

async function setup() {
  const owner = await createSignedInUser(t.app);
  const admin = await createSignedInUser(t.app);
  const tenant = await createTenant(t.app, owner);
  await addMember(t.app, tenant.id, admin, ['admin']);
  const invite = (by: SignedIn, email: string, roleIds = [tenant.roles.member]) =>
    request(t.app, 'POST', `/v1/tenants/${tenant.id}/invitations`, {
      token: by.accessToken,
      body: { email, roleIds },
    });
  return { owner, admin, tenant, invite };
}

describe('POST /v1/tenants/:tenantId/invitations', () => {
  it('invites, mails a PUBLIC_URL link, and answers the invitation view', async () => {
    const { owner, tenant, invite } = await setup();
    const email = uniqueEmail('invitee');
    const response = await invite(owner, `  ${email.toUpperCase()} `, [
      tenant.roles.member,
      tenant.roles.admin,
    ]);
    expect(response.statusCode, response.body).toBe(201);
    const view = response.json();
    expect(view).toMatchObject({
      tenantId: tenant.id,
      email,
      status: 'pending',
      invitedBy: { id: owner.user.id, email: owner.email },
      acceptedAt: null,
    });
    expect(view.roles.map((r: { name: string }) => r.name)).toEqual(['admin', 'member']);
    expect(new Date(view.expiresAt).getTime() - clock.now().getTime()).toBe(604_800_000);
    const mail = await lastMail(t.app, email, 'invitation');
    expect(mail!.link.startsWith('http://tessera.test/invitations/accept?token=')).toBe(true);
    expect(mail!.row.subject).toContain('Tenant');
    const [row] = await t.app.container.db.select().from(invitations).where(eq(invitations.id, view.id));
    expect(row!.tokenHash).not.toBe(mail!.token);
  });

  it('refuses roles of another tenant (400), escalation (403), owner by a non-owner (403), members and duplicates (409)', async () => {
    const { owner, admin, tenant, invite } = await setup();
    const other = await createTenant(t.app, owner);
    expectProblem(await invite(owner, uniqueEmail(), [other.roles.member]), 400, 'validation_failed');
    expectProblem(await invite(admin, uniqueEmail(), [tenant.roles.owner]), 403, 'escalation');
    // A custom role holding members:invite only cannot hand out members:remove.
    const [inviterRole] = await t.app.container.db
      .insert(roles)
      .values({ tenantId: tenant.id, name: 'inviter' })
      .returning();
    await t.app.container.db
      .insert(rolePermissions)
      .values({ tenantId: tenant.id, roleId: inviterRole!.id, permissionKey: 'members:invite' });
    const [removerRole] = await t.app.container.db
      .insert(roles)
      .values({ tenantId: tenant.id, name: 'remover' })
      .returning();
    await t.app.container.db
      .insert(rolePermissions)
      .values({ tenantId: tenant.id, roleId: removerRole!.id, permissionKey: 'members:remove' });
    const inviter = await createSignedInUser(t.app);
    await addMember(t.app, tenant.id, inviter, [inviterRole!.id]);
    expectProblem(await invite(inviter, uniqueEmail(), [removerRole!.id]), 403, 'escalation');
    expect((await invite(inviter, uniqueEmail(), [inviterRole!.id])).statusCode).toBe(201);

    expectProblem(await invite(owner, admin.email), 409, 'member.exists');
    const email = uniqueEmail();
    expect((await invite(owner, email)).statusCode).toBe(201);
    expectProblem(await invite(admin, email.toUpperCase()), 409, 'invitation.exists');
    // Owners invite to owner.
    expect((await invite(owner, uniqueEmail(), [tenant.roles.owner])).statusCode).toBe(201);
    // Validation.
    expectProblem(await invite(owner, 'not-an-email'), 400, 'validation_failed');
    const extra = await request(t.app, 'POST', `/v1/tenants/${tenant.id}/invitations`, {
      token: owner.accessToken,
      body: { email: uniqueEmail(), roleIds: [tenant.roles.member], admin: true },
    });
    expectProblem(extra, 400, 'validation_failed');
  });

  it('lets exactly one of concurrent duplicate invitations through', async () => {
    const { owner, invite } = await setup();
    const email = uniqueEmail('race');
    const answers = await Promise.all(Array.from({ length: 10 }, () => invite(owner, email)));
    expect(answers.filter((r) => r.statusCode === 201)).toHaveLength(1);
    for (const r of answers.filter((r) => r.statusCode !== 201)) expectProblem(r, 409, 'invitation.exists');
  });
});

describe('listing, revoking and resending', () => {
  it('lists newest first with a status filter; expired shows as expired; keyset pages', async () => {
    const setupResult = await setup();
    const { tenant, invite } = setupResult;
    const first = (await invite(setupResult.owner, uniqueEmail())).json();
    clock.advance(604_801);
    // Access tokens follow the clock too: sign in again.
    const owner = await signIn(t.app, setupResult.owner);
    const second = (await invite(owner, uniqueEmail())).json();
    const third = (await invite(owner, uniqueEmail())).json();
    await request(t.app, 'DELETE', `/v1/tenants/${tenant.id}/invitations/${third.id}`, {
      token: owner.accessToken,
    });
    const list = (q = '') =>
      request(t.app, 'GET', `/v1/tenants/${tenant.id}/invitations${q}`, { token: owner.accessToken });
    const all = (await list()).json();
    expect(all.data.map((i: { id: string; status: string }) => [i.id, i.status])).toEqual([
      [third.id, 'revoked'],
      [second.id, 'pending'],
      [first.id, 'expired'],
    ]);
    expect((await list('?status=expired')).json().data.map((i: { id: string }) => i.id)).toEqual([first.id]);
    expect((await list('?status=pending')).json().data.map((i: { id: string }) => i.id)).toEqual([second.id]);
    const page1 = (await list('?limit=2')).json();
    expect(page1.data).toHaveLength(2);
    const page2 = (await list(`?limit=2&cursor=${page1.nextCursor}`)).json();
    expect(page2.data.map((i: { id: string }) => i.id)).toEqual([first.id]);
    expect(page2.nextCursor).toBeNull();
    expectProblem(await list('?status=bogus'), 400, 'validation_failed');
    // An expired invitation no longer blocks a new one for that address.
    expect((await invite(owner, first.email)).statusCode).toBe(201);
  });

  it('revokes (the token dies), 409 when not pending, 404 for another tenant', async () => {
    const { owner, tenant, invite } = await setup();
    const email = uniqueEmail();
    const view = (await invite(owner, email)).json();
    const { token } = (await lastMail(t.app, email, 'invitation'))!;
    const url = `/v1/tenants/${tenant.id}/invitations/${view.id}`;
    expect((await request(t.app, 'DELETE', url, { token: owner.accessToken })).statusCode).toBe(204);
    expectProblem(
      await request(t.app, 'DELETE', url, { token: owner.accessToken }),
      409,
      'invitation.not_pending',
    );
    const invitee = await createSignedInUser(t.app, { email });
    expectProblem(
      await request(t.app, 'POST', '/v1/invitations/accept', { token: invitee.accessToken, body: { token } }),
      400,
      'invitation.invalid',
    );
    const other = await createTenant(t.app, owner);
    expectProblem(
      await request(t.app, 'DELETE', `/v1/tenants/${other.id}/invitations/${view.id}`, {
        token: owner.accessToken,
      }),
      404,
      'not_found',
    );
  });

  it('resends with a new token and expiry; the old token dies', async () => {
    const { owner, admin, tenant, invite } = await setup();
    const email = uniqueEmail();
    const view = (await invite(owner, email)).json();
    const old = (await lastMail(t.app, email, 'invitation'))!.token;
    clock.advance(60);
    const url = `/v1/tenants/${tenant.id}/invitations/${view.id}/resend`;
    const resent = await request(t.app, 'POST', url, { token: owner.accessToken });
    expect(resent.statusCode).toBe(200);
    expect(new Date(resent.json().expiresAt).getTime()).toBeGreaterThan(new Date(view.expiresAt).getTime());
    const fresh = (await lastMail(t.app, email, 'invitation'))!.token;
    expect(fresh).not.toBe(old);
    const invitee = await createSignedInUser(t.app, { email });
    const accept = (token: string) =>
      request(t.app, 'POST', '/v1/invitations/accept', { token: invitee.accessToken, body: { token } });
    expectProblem(await accept(old), 400, 'invitation.invalid');
    expect((await accept(fresh)).statusCode).toBe(200);
    expectProblem(
      await request(t.app, 'POST', url, { token: owner.accessToken }),
      409,
      'invitation.not_pending',
    );
    // An owner invitation cannot be resent by an admin.
    const ownerInvite = (await invite(owner, uniqueEmail(), [tenant.roles.owner])).json();
    expectProblem(
      await request(t.app, 'POST', `/v1/tenants/${tenant.id}/invitations/${ownerInvite.id}/resend`, {
        token: admin.accessToken,
      }),
      403,
      'escalation',
    );
  });
});

describe('POST /v1/invitations/accept', () => {
  it('makes the membership with the invited roles, marks the email verified, and is single use', async () => {
    const { owner, tenant, invite } = await setup();
    const email = uniqueEmail();
    await invite(owner, email, [tenant.roles.admin]);
    const { token } = (await lastMail(t.app, email, 'invitation'))!;
    const invitee = await createSignedInUser(t.app, { email });
    const response = await request(t.app, 'POST', '/v1/invitations/accept', {
      token: invitee.accessToken,
      body: { token },
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ user: { id: invitee.user.id }, roles: [{ name: 'admin' }] });
    const [user] = await t.app.container.db.select().from(users).where(eq(users.id, invitee.user.id));
    expect(user!.emailVerified).toBe(true);
    const members = await request(t.app, 'GET', `/v1/tenants/${tenant.id}/members/${invitee.user.id}`, {
      token: invitee.accessToken,
    });
    expect(members.statusCode).toBe(200);
    expectProblem(
      await request(t.app, 'POST', '/v1/invitations/accept', { token: invitee.accessToken, body: { token } }),
      400,
      'invitation.invalid',
    );
  });

  it('refuses another account (403), an expired token (400), and anonymous callers (401)', async () => {
    const { owner, invite } = await setup();
    const email = uniqueEmail();
    await invite(owner, email);
    const { token } = (await lastMail(t.app, email, 'invitation'))!;
    const stranger = await createSignedInUser(t.app);
    expectProblem(
      await request(t.app, 'POST', '/v1/invitations/accept', {
        token: stranger.accessToken,
        body: { token },
      }),
      403,
      'invitation.email_mismatch',
    );
    expectProblem(
      await request(t.app, 'POST', '/v1/invitations/accept', { body: { token } }),
      401,
      'unauthenticated',
    );
    clock.advance(604_801);
    const invitee = await createSignedInUser(t.app, { email });
    expectProblem(
      await request(t.app, 'POST', '/v1/invitations/accept', { token: invitee.accessToken, body: { token } }),
      400,
      'invitation.invalid',
    );
  });

  it('gives exactly one membership to 50 concurrent accepts', async () => {
    const { owner, tenant, invite } = await setup();
    const email = uniqueEmail();
    await invite(owner, email);
    const { token } = (await lastMail(t.app, email, 'invitation'))!;
    const invitee = await createSignedInUser(t.app, { email });
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        request(t.app, 'POST', '/v1/invitations/accept', { token: invitee.accessToken, body: { token } }),
      ),
    );
    expect(answers.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(answers.every((r) => r.statusCode === 200 || r.statusCode === 400)).toBe(true);
    const rows = await t.app.container.db
      .select()
      .from(memberships)
      .where(and(eq(memberships.tenantId, tenant.id), eq(memberships.userId, invitee.user.id)));
    expect(rows).toHaveLength(1);
    if (isServerDatabase()) expect(answers.length).toBe(50);
  });
});

describe('/v1/users/me/invitations', () => {
  it('lists pending invitations to a verified address; accept and decline by id', async () => {
    const { owner, tenant, invite } = await setup();
    const other = await createTenant(t.app, owner);
    const email = uniqueEmail();
    const first = (await invite(owner, email)).json();
    const second = (
      await request(t.app, 'POST', `/v1/tenants/${other.id}/invitations`, {
        token: owner.accessToken,
        body: { email, roleIds: [other.roles.member] },
      })
    ).json();
    const invitee = await createSignedInUser(t.app, { email });
    const mine = () => request(t.app, 'GET', '/v1/users/me/invitations', { token: invitee.accessToken });
    // Unverified: nothing listed, nothing answered by id.
    expect((await mine()).json().data).toEqual([]);
    expectProblem(
      await request(t.app, 'POST', `/v1/users/me/invitations/${first.id}/accept`, {
        token: invitee.accessToken,
      }),
      403,
      'email.unverified',
    );
    await verify(invitee);
    expect((await mine()).json().data.map((i: { id: string }) => i.id)).toEqual([second.id, first.id]);
    const accepted = await request(t.app, 'POST', `/v1/users/me/invitations/${first.id}/accept`, {
      token: invitee.accessToken,
    });
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json().roles).toEqual([{ id: tenant.roles.member, name: 'member' }]);
    expect(
      (
        await request(t.app, 'POST', `/v1/users/me/invitations/${second.id}/decline`, {
          token: invitee.accessToken,
        })
      ).statusCode,
    ).toBe(204);
    expect((await mine()).json().data).toEqual([]);
    expectProblem(
      await request(t.app, 'POST', `/v1/users/me/invitations/${second.id}/accept`, {
        token: invitee.accessToken,
      }),
      404,
      'not_found',
    );
    const list = await request(t.app, 'GET', `/v1/tenants/${other.id}/invitations?status=declined`, {
      token: owner.accessToken,
    });
    expect(list.json().data.map((i: { id: string }) => i.id)).toEqual([second.id]);
  });

  it('hides invitations addressed to someone else (404)', async () => {
    const { owner, invite } = await setup();
    const view = (await invite(owner, uniqueEmail())).json();
    const stranger = await createSignedInUser(t.app);
    await verify(stranger);
    for (const action of ['accept', 'decline']) {
      expectProblem(
        await request(t.app, 'POST', `/v1/users/me/invitations/${view.id}/${action}`, {
          token: stranger.accessToken,
        }),
        404,
        'not_found',
      );
    }
  });
});

describe('POST /v1/auth/register with invitationToken', () => {
  let closed: TestApp;
  beforeAll(async () => {
    closed = await createTestApp({ env: { ...ENV, ALLOW_SIGNUP: 'false' } });
  });
  afterAll(() => closed?.close());

  it('signs up while sign-up is closed, verified, as a member, in one go; the token is then spent', async () => {
    const owner = await createSignedInUser(closed.app);
    const tenant = await createTenant(closed.app, owner);
    const email = uniqueEmail('newcomer');
    await request(closed.app, 'POST', `/v1/tenants/${tenant.id}/invitations`, {
      token: owner.accessToken,
      body: { email, roleIds: [tenant.roles.member] },
    });
    const { token } = (await lastMail(closed.app, email, 'invitation'))!;
    const register = (body: object) => request(closed.app, 'POST', '/v1/auth/register', { body });
    expectProblem(await register({ email, password: GOOD_PASSWORD }), 403, 'signup_disabled');
    expectProblem(
      await register({ email, password: GOOD_PASSWORD, invitationToken: 'nope' }),
      403,
      'signup_disabled',
    );
    expectProblem(
      await register({ email: uniqueEmail(), password: GOOD_PASSWORD, invitationToken: token }),
      400,
      'invitation.email_mismatch',
    );
    const response = await register({
      email: email.toUpperCase(),
      password: GOOD_PASSWORD,
      invitationToken: token,
    });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json().user).toMatchObject({ email, emailVerified: true });
    const me = await signIn(closed.app, { user: response.json().user, email, password: GOOD_PASSWORD });
    const membership = await request(closed.app, 'GET', `/v1/tenants/${tenant.id}/members/${me.user.id}`, {
      token: me.accessToken,
    });
    expect(membership.statusCode).toBe(200);
    // No verification mail for an invited sign-up: the address is already proven.
    expect(await lastMail(closed.app, email, 'email_verification')).toBeUndefined();
    expectProblem(
      await register({ email, password: GOOD_PASSWORD, invitationToken: token }),
      403,
      'signup_disabled',
    );
  });

  it('answers 400 invitation.invalid for a bad token while sign-up is open', async () => {
    expectProblem(
      await request(t.app, 'POST', '/v1/auth/register', {
        body: { email: uniqueEmail(), password: GOOD_PASSWORD, invitationToken: 'nope' },
      }),
      400,
      'invitation.invalid',
    );
  });
});
