import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, request, type TestApp, TestClock } from './app.js';
import { createSignedInUser, createTenant, issueApiKey, uniqueEmail } from './factories.js';
import { idMillisecond } from './ids.js';

describe('ids of new resources', () => {
  // An hour ahead of the wall clock, so an id made apart from createdAt (by Date.now()) shows at
  // once; on the real clock the two differ by a millisecond only now and then.
  const clock = new TestClock(Date.now() + 3_600_000);
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ clock });
  });
  afterAll(() => t.close());

  it('carry their createdAt, so lists newest first by id agree with createdAt', async () => {
    const owner = await createSignedInUser(t.app);
    const tenant = await createTenant(t.app, owner);
    const token = owner.accessToken;
    const role = await request(t.app, 'POST', `/v1/tenants/${tenant.id}/roles`, {
      token,
      body: { name: 'Auditor', permissions: [] },
    });
    expect(role.statusCode, role.body).toBe(201);
    const { apiKey } = await issueApiKey(t.app, tenant.id, owner);
    const invitation = await request(t.app, 'POST', `/v1/tenants/${tenant.id}/invitations`, {
      token,
      body: { email: uniqueEmail('invitee'), roleIds: [tenant.roles.member] },
    });
    expect(invitation.statusCode, invitation.body).toBe(201);
    const made = [owner.user, tenant, role.json(), apiKey, invitation.json()] as Array<{
      id: string;
      createdAt: string | Date;
    }>;
    for (const resource of made) {
      expect(idMillisecond(resource.id)).toBe(new Date(resource.createdAt).getTime());
      expect(new Date(resource.createdAt).getTime()).toBe(clock.now().getTime());
    }
  });
});
