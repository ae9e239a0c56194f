import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, request, type TestApp } from '../../../test/app.js';
import { isServerDatabase } from '../../../test/database.js';
import { createSignedInUser, createTenant, type SignedIn } from '../../../test/factories.js';
import { canonicalJson } from './audit.chain.js';
import { chainOf, tamper } from './audit.test-helpers.js';
import { SYSTEM_CONTEXT } from './audit-context.js';

describe('audit log integrity', () => {
  let t: TestApp;
  let owner: SignedIn;
  beforeAll(async () => {
    t = await createTestApp();
    owner = await createSignedInUser(t.app);
  });
  afterAll(() => t.close());

  /** A tenant whose log holds tenant.created and `roles` role.created entries. */
  async function auditedTenant(roles = 4): Promise<string> {
    const tenant = await createTenant(t.app, owner);
    for (let i = 0; i < roles; i++) {
      const response = await request(t.app, 'POST', `/v1/tenants/${tenant.id}/roles`, {
        token: owner.accessToken,
        body: { name: `role-${i}`, permissions: ['tenant:read'] },
      });
      expect(response.statusCode).toBe(201);
    }
    return tenant.id;
  }

  const verify = async (tenantId: string) =>
    (
      await request(t.app, 'GET', `/v1/tenants/${tenantId}/audit-log/verify`, { token: owner.accessToken })
    ).json();

  it('answers valid for an untouched log, every entry recomputed', async () => {
    const tenantId = await auditedTenant();
    expect(await verify(tenantId)).toEqual({ valid: true, checked: 5, firstInvalidId: null });
  });

  it('stops silent edits: changing one entry metadata in the database makes verify name it', async () => {
    const tenantId = await auditedTenant();
    const chain = await chainOf(t.app, tenantId);
    const victim = chain[2]!;
    await tamper(
      t.app,
      sql`update audit_log set metadata = ${JSON.stringify({ name: 'innocent', permissions: [] })}::jsonb where id = ${victim.id}`,
    );
    expect(await verify(tenantId)).toEqual({ valid: false, checked: 3, firstInvalidId: victim.id });
  });

  it('stops relabelling: changing an entry action in the database makes verify name it', async () => {
    const tenantId = await auditedTenant();
    const chain = await chainOf(t.app, tenantId);
    await tamper(t.app, sql`update audit_log set action = 'role.viewed' where id = ${chain[1]!.id}`);
    expect((await verify(tenantId)).firstInvalidId).toBe(chain[1]!.id);
  });

  it('stops silent deletions: removing an entry makes verify name the one after the gap', async () => {
    const tenantId = await auditedTenant();
    const chain = await chainOf(t.app, tenantId);
    await tamper(t.app, sql`delete from audit_log where id = ${chain[2]!.id}`);
    expect(await verify(tenantId)).toEqual({ valid: false, checked: 3, firstInvalidId: chain[3]!.id });
  });

  it('stops deleting the start of a log: the first entry left no longer chains to the anchor', async () => {
    const tenantId = await auditedTenant();
    const chain = await chainOf(t.app, tenantId);
    await tamper(t.app, sql`delete from audit_log where id = ${chain[0]!.id}`);
    expect((await verify(tenantId)).firstInvalidId).toBe(chain[1]!.id);
  });

  it('refuses updates in the database itself: the table is append-only', async () => {
    const tenantId = await auditedTenant(1);
    const [entry] = await chainOf(t.app, tenantId);
    const error = await t.app.container.db
      .execute(sql`update audit_log set action = 'x' where id = ${entry!.id}`)
      .catch((e: unknown) => e);
    expect(String((error as { cause?: unknown }).cause ?? error)).toMatch(/append-only/);
    expect((await verify(tenantId)).valid).toBe(true);
  });

  it('keeps one log per tenant: tampering with one tenant log leaves another valid', async () => {
    const [a, b] = [await auditedTenant(2), await auditedTenant(2)];
    const chainA = await chainOf(t.app, a);
    await tamper(t.app, sql`delete from audit_log where id = ${chainA[1]!.id}`);
    expect((await verify(a)).valid).toBe(false);
    expect(await verify(b)).toEqual({ valid: true, checked: 3, firstInvalidId: null });
  });

  it('refuses secrets in metadata before they are stored', async () => {
    const tenantId = await auditedTenant(0);
    for (const metadata of [{ password: 'x' }, { nested: { refreshToken: 'x' } }, { key: 'tsk_x' }]) {
      await expect(
        t.app.container.audit.recordNow(SYSTEM_CONTEXT, { tenantId, action: 'test.secret', metadata }),
      ).rejects.toThrow(/no secret/);
    }
  });

  it('hashes a canonical form: key order does not change it', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 1 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"e":1,"f":2}]},"b":1}',
    );
  });

  it(`stops forks: 50 parallel changes in one tenant make one unbroken chain (${isServerDatabase() ? 'PostgreSQL server' : 'PGlite'})`, async () => {
    const tenant = await createTenant(t.app, owner);
    const started = performance.now();
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 2 === 0
          ? request(t.app, 'POST', `/v1/tenants/${tenant.id}/roles`, {
              token: owner.accessToken,
              body: { name: `parallel-${i}`, permissions: ['tenant:read'] },
            })
          : request(t.app, 'POST', `/v1/tenants/${tenant.id}/api-keys`, {
              token: owner.accessToken,
              body: { name: `parallel-${i}`, scope: 'read' },
            }),
      ),
    );
    const elapsed = performance.now() - started;
    expect(responses.map((r) => r.statusCode)).toEqual(Array(50).fill(201));
    const chain = await chainOf(t.app, tenant.id);
    expect(chain).toHaveLength(51);
    expect(chain.map((e) => e.seq)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    // Each entry names its predecessor's hash: no two entries share a parent.
    expect(new Set(chain.map((e) => e.prevHash)).size).toBe(51);
    expect(await verify(tenant.id)).toEqual({ valid: true, checked: 51, firstInvalidId: null });
    console.info(`audit concurrency: 50 parallel changes, chain of 51 valid, ${elapsed.toFixed(0)} ms`);
  });
});
