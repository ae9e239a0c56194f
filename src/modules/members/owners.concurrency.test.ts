import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Response, request, type TestApp } from '../../../test/app.js';
import {
  addMember,
  createSignedInUser,
  createTenant,
  type SignedIn,
  type TestTenant,
} from '../../../test/factories.js';
import { memberRoles, roles } from '../../db/schema/index.js';

/**
 * A tenant always keeps an owner. 50 demote / remove / leave / delete-account requests race against
 * a two-owner tenant; whatever order they commit in, one owner is left. On PGlite every transaction
 * runs alone, so this only bites on a PostgreSQL server (TEST_DATABASE_URL), where it must pass.
 */
const ENV = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };
const ROUNDS = 4;
const REQUESTS = 50;

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: ENV });
});
afterAll(() => t?.close());

async function owners(tenantId: string): Promise<string[]> {
  const rows = await t.app.container.db
    .select({ userId: memberRoles.userId })
    .from(memberRoles)
    .innerJoin(roles, and(eq(roles.tenantId, memberRoles.tenantId), eq(roles.id, memberRoles.roleId)))
    .where(and(eq(memberRoles.tenantId, tenantId), eq(roles.builtIn, 'owner')));
  return rows.map((r) => r.userId);
}

type Attack = (me: SignedIn, other: SignedIn, tenant: TestTenant) => Promise<Response>;

const member = (tenant: TestTenant, userId: string) => `/v1/tenants/${tenant.id}/members/${userId}`;
const ATTACKS: Attack[] = [
  // demote the other owner
  (me, other, tenant) =>
    request(t.app, 'PUT', `${member(tenant, other.user.id)}/roles`, {
      token: me.accessToken,
      body: { roleIds: [tenant.roles.admin] },
    }),
  // demote oneself
  (me, _other, tenant) =>
    request(t.app, 'PUT', `${member(tenant, me.user.id)}/roles`, {
      token: me.accessToken,
      body: { roleIds: [tenant.roles.member] },
    }),
  // remove the other owner
  (me, other, tenant) => request(t.app, 'DELETE', member(tenant, other.user.id), { token: me.accessToken }),
  // leave
  (me, _other, tenant) => request(t.app, 'DELETE', member(tenant, me.user.id), { token: me.accessToken }),
  // delete one's account
  (me) => request(t.app, 'DELETE', '/v1/users/me', { token: me.accessToken }),
];

/** What a loser may answer: it counted after a winner, or its caller had already lost the right. */
const REFUSALS = [
  [409, 'last_owner'],
  [409, 'sole_owner'],
  [403, 'escalation'],
  [403, 'forbidden'],
  [404, 'not_found'],
  [401, 'token_invalid'],
];

describe('the last owner under concurrency', () => {
  it(`${ROUNDS} rounds of ${REQUESTS} parallel demote/remove/leave/delete-account leave an owner`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const a = await createSignedInUser(t.app);
      const b = await createSignedInUser(t.app);
      const tenant = await createTenant(t.app, a);
      await addMember(t.app, tenant.id, b, ['owner']);
      expect((await owners(tenant.id)).sort()).toEqual([a.user.id, b.user.id].sort());

      const responses = await Promise.all(
        Array.from({ length: REQUESTS }, (_, i) => {
          const [me, other] = i % 2 === 0 ? [a, b] : [b, a];
          return ATTACKS[Math.floor(i / 2) % ATTACKS.length]!(me, other, tenant);
        }),
      );

      const left = await owners(tenant.id);
      expect(
        left.length,
        `round ${round}: ${responses.map((r) => r.statusCode).join(',')}`,
      ).toBeGreaterThanOrEqual(1);
      for (const response of responses) {
        if (response.statusCode < 300) continue;
        expect(REFUSALS, response.body).toContainEqual([response.statusCode, response.json().code]);
      }
      // Someone won, and someone was refused for the owner rule: the race really happened.
      expect(responses.some((r) => r.statusCode < 300)).toBe(true);
      expect(responses.some((r) => r.statusCode === 409)).toBe(true);
    }
  });
});
