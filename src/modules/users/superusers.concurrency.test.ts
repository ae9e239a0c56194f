import { and, eq, inArray, notInArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Response, request, type TestApp } from '../../../test/app.js';
import { isServerDatabase } from '../../../test/database.js';
import { createSuperuser, createUser, type SignedIn } from '../../../test/factories.js';
import { users } from '../../db/schema/index.js';
import { queryRows } from '../../platform/db.js';

const ENV = { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '0' };
const ROUNDS = 10;

/**
 * The platform must always keep one active superuser. These tests race the requests that remove
 * one, on a database of their own (the file's app), where the two superusers of each round are the
 * only active ones.
 */
describe('the last active superuser under concurrency', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: ENV });
  });
  afterAll(() => t.close());

  const activeSuperusers = async () =>
    t.app.container.db
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.isSuperuser, true), eq(users.isActive, true)));

  /** Two fresh superusers, and every other superuser of earlier rounds demoted. */
  async function pair(): Promise<[SignedIn, SignedIn]> {
    const a = await createSuperuser(t.app);
    const b = await createSuperuser(t.app);
    await t.app.container.db
      .update(users)
      .set({ isSuperuser: false })
      .where(notInArray(users.id, [a.user.id, b.user.id]));
    expect((await activeSuperusers()).map((u) => u.id).sort()).toEqual([a.user.id, b.user.id].sort());
    return [a, b];
  }

  /**
   * One request wins. The other is refused: 409 last_superuser when it counted after the winner
   * committed, or 403 / 401 when it was authenticated after the winner had already demoted,
   * deactivated or deleted its caller.
   */
  function expectOneWinner(responses: Response[], success: number): void {
    const bodies = responses.map((r) => r.body).join('\n');
    const winners = responses.filter((r) => r.statusCode === success);
    expect(winners, bodies).toHaveLength(1);
    const loser = responses.find((r) => r.statusCode !== success)!;
    expect([
      [409, 'last_superuser'],
      [403, 'forbidden'],
      [401, 'token_invalid'],
    ]).toContainEqual([loser.statusCode, loser.json().code]);
  }

  const kinds: Array<[string, (me: SignedIn, other: SignedIn) => Promise<Response>, number]> = [
    [
      'demote each other',
      (me, other) =>
        request(t.app, 'PATCH', `/v1/users/${other.user.id}`, {
          token: me.accessToken,
          body: { isSuperuser: false },
        }),
      200,
    ],
    [
      'deactivate each other',
      (me, other) =>
        request(t.app, 'PATCH', `/v1/users/${other.user.id}`, {
          token: me.accessToken,
          body: { isActive: false },
        }),
      200,
    ],
    [
      'delete each other',
      (me, other) => request(t.app, 'DELETE', `/v1/users/${other.user.id}`, { token: me.accessToken }),
      204,
    ],
    [
      'demote themselves',
      (me) =>
        request(t.app, 'PATCH', `/v1/users/${me.user.id}`, {
          token: me.accessToken,
          body: { isSuperuser: false },
        }),
      200,
    ],
    ['delete themselves', (me) => request(t.app, 'DELETE', '/v1/users/me', { token: me.accessToken }), 204],
  ];

  it.each(kinds)(
    `two superusers who %s at once leave exactly one (${ROUNDS} rounds)`,
    async (_label, act, success) => {
      for (let round = 0; round < ROUNDS; round++) {
        const [a, b] = await pair();
        const responses = await Promise.all([act(a, b), act(b, a)]);
        expectOneWinner(responses, success);
        expect(await activeSuperusers()).toHaveLength(1);
      }
    },
  );

  it('three superusers removing each other in a ring leave exactly one', async () => {
    for (let round = 0; round < 3; round++) {
      const [a, b] = await pair();
      const c = await createSuperuser(t.app);
      const ring: Array<[SignedIn, SignedIn]> = [
        [a, b],
        [b, c],
        [c, a],
      ];
      const responses = await Promise.all(
        ring.map(([me, other]) =>
          request(t.app, 'PATCH', `/v1/users/${other.user.id}`, {
            token: me.accessToken,
            body: { isSuperuser: false },
          }),
        ),
      );
      // Whoever was demoted first has lost the right to act: 403, or 409 if the count stopped it.
      const ok = responses.filter((r) => r.statusCode === 200);
      expect(ok.length).toBeGreaterThanOrEqual(1);
      expect(ok.length).toBeLessThanOrEqual(2);
      for (const r of responses) expect([200, 403, 409]).toContain(r.statusCode);
      expect((await activeSuperusers()).length).toBeGreaterThanOrEqual(1);
    }
  });
});

/**
 * Regression: a demotion used to read its target before taking the superuser lock, and checked the
 * count only when the target was then a superuser. A demotion that read its target just before a
 * concurrent promotion of it committed skipped the check, while another demotion counted that
 * promoted user, and together they left no active superuser. PGlite runs one connection and cannot
 * interleave transactions like this, so the test exists only on a PostgreSQL server.
 */
describe.runIf(isServerDatabase())('a demotion racing a promotion of its target (PostgreSQL)', () => {
  it('never leaves zero active superusers', async () => {
    const own = await createTestApp({ env: ENV });
    const { db } = own.app.container;
    try {
      const a = await createSuperuser(own.app);
      const b = await createUser(own.app);
      const waiting = async () => {
        const rows = await queryRows<{ n: number }>(
          db,
          sql`select count(*)::int as n from pg_stat_activity
              where datname = current_database() and wait_event_type = 'Lock'`,
        );
        return Number(rows[0]?.n ?? 0);
      };
      const until = async (ready: () => Promise<boolean>) => {
        for (let i = 0; i < 500 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 10));
        expect(await ready()).toBe(true);
      };
      const gate = () => {
        let open!: () => void;
        const promise = new Promise<void>((resolve) => {
          open = resolve;
        });
        return { promise, open };
      };

      // T0 promotes B and holds its row lock, uncommitted.
      const commitPromotion = gate();
      let promoted = false;
      const promotion = db.transaction(async (tx) => {
        await tx.update(users).set({ isSuperuser: true }).where(eq(users.id, b.user.id));
        promoted = true;
        await commitPromotion.promise;
      });
      await until(async () => promoted);

      // A bystander queues for B's row first, so it holds the row after T0 commits.
      const releaseBystander = gate();
      let bystanderHasRow = false;
      const bystander = db.transaction(async (tx) => {
        await tx.select().from(users).where(eq(users.id, b.user.id)).for('update');
        bystanderHasRow = true;
        await releaseBystander.promise;
      });
      await until(async () => (await waiting()) === 1);

      // T2 demotes B: it reads B as a regular user (T0 has not committed) and queues for the row.
      const demoteB = request(own.app, 'PATCH', `/v1/users/${b.user.id}`, {
        token: a.accessToken,
        body: { isSuperuser: false },
      });
      await until(async () => (await waiting()) === 2);

      // T0 commits: B is a committed superuser, and T2 still waits, now behind the bystander.
      commitPromotion.open();
      await promotion;
      await until(async () => bystanderHasRow);

      // T1 demotes A. It either counts A and B and succeeds, or waits for T2 to finish first.
      let demoteADone = false;
      const demoteA = request(own.app, 'PATCH', `/v1/users/${a.user.id}`, {
        token: a.accessToken,
        body: { isSuperuser: false },
      }).finally(() => {
        demoteADone = true;
      });
      await until(async () => demoteADone || (await waiting()) === 2);

      releaseBystander.open();
      await bystander;
      const [rb, ra] = await Promise.all([demoteB, demoteA]);
      expect(rb.statusCode, rb.body).toBe(200);
      const left = await db
        .select({ id: users.id })
        .from(users)
        .where(
          and(
            eq(users.isSuperuser, true),
            eq(users.isActive, true),
            inArray(users.id, [a.user.id, b.user.id]),
          ),
        );
      expect(left.length, `demote A answered ${ra.statusCode}`).toBeGreaterThanOrEqual(1);
      expect(ra.statusCode).toBe(409);
      expect(ra.json().code).toBe('last_superuser');
    } finally {
      await own.close();
    }
  });
});
