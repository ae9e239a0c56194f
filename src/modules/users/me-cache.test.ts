import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, eventually, request, type TestApp } from '../../../test/app.js';
import { createSignedInUser } from '../../../test/factories.js';
import { users } from '../../db/schema/index.js';

/**
 * GET /v1/users/me answers from the session cache. These hold it to the database: a change is
 * seen at once on the instance that made it, and through the users trigger's NOTIFY on the others,
 * whichever code path wrote the row.
 */
let a: TestApp;
let b: TestApp;
beforeAll(async () => {
  a = await createTestApp();
  b = await createTestApp({ database: a.database });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

const me = (t: TestApp, token: string) => request(t.app, 'GET', '/v1/users/me', { token });

describe('the cached /me', () => {
  it('shows a name change at once where it was made, and soon on another instance', async () => {
    const user = await createSignedInUser(a.app);
    expect((await me(a, user.accessToken)).json().name).not.toBe('Grace');
    expect((await me(b, user.accessToken)).json().name).not.toBe('Grace');

    const patch = await request(a.app, 'PATCH', '/v1/users/me', {
      token: user.accessToken,
      body: { name: 'Grace' },
    });
    expect(patch.statusCode).toBe(200);
    expect((await me(a, user.accessToken)).json().name).toBe('Grace');
    const onB = await eventually(
      () => me(b, user.accessToken),
      (r) => r.json().name === 'Grace',
    );
    expect(onB.json().name).toBe('Grace');
  });

  it('follows a change written straight to the table (the trigger announces every update)', async () => {
    const user = await createSignedInUser(a.app);
    expect((await me(a, user.accessToken)).json().emailVerified).toBe(false);
    await a.app.container.db.update(users).set({ emailVerified: true }).where(eq(users.id, user.user.id));
    const after = await eventually(
      () => me(a, user.accessToken),
      (r) => r.json().emailVerified === true,
    );
    expect(after.json().emailVerified).toBe(true);
  });

  it('a rolled-back change announces nothing and changes nothing', async () => {
    const user = await createSignedInUser(a.app);
    const before = (await me(a, user.accessToken)).json();
    await a.app.container.db
      .transaction(async (tx) => {
        await tx.update(users).set({ name: 'Never' }).where(eq(users.id, user.user.id));
        tx.rollback();
      })
      .catch(() => undefined);
    expect((await me(a, user.accessToken)).json()).toEqual(before);
  });
});
