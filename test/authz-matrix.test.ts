import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './app.js';
import { buildWorld, FIXTURES, PRINCIPALS, statusMatches, type World } from './authz-matrix.js';

/**
 * Every tenant route x every principal: the answer matches the route's declared permission, and
 * nothing about the tenant reaches someone outside it. The route list is the app's own, so a new
 * tenant route without a fixture here fails.
 */
describe('authz matrix', () => {
  let t: TestApp;
  let world: World;
  beforeAll(async () => {
    t = await createTestApp();
    world = await buildWorld(t.app);
  });
  afterAll(() => t.close());

  it('covers every tenant route the app registered', () => {
    const routes = t.app.tenantRoutes.map((r) => `${r.method} ${r.url}`);
    expect(routes.length).toBeGreaterThan(0);
    expect(routes.filter((key) => !FIXTURES[key])).toEqual([]);
  });

  it('answers each principal as the route permission says, and hides the tenant from outsiders', async () => {
    const outcomes: string[] = [];
    const mismatches: string[] = [];
    const memberEmails = Object.values(world.users).map((u) => u.email);
    for (const route of t.app.tenantRoutes) {
      const fixture = FIXTURES[`${route.method} ${route.url}`];
      if (!fixture) continue;
      for (const principal of PRINCIPALS) {
        const call = await fixture(world, principal);
        const response = await t.app.inject({
          method: route.method as 'GET',
          url: call.url,
          headers: principal.headers(world, call),
          ...(call.body !== undefined ? { payload: call.body as object } : {}),
        });
        const expected = principal.expect(route, world);
        const where = `${route.method} ${route.url} as ${principal.name}`;
        outcomes.push(`${where}: ${response.statusCode}`);
        if (!statusMatches(expected, response.statusCode)) {
          mismatches.push(
            `${where}: expected ${expected}, got ${response.statusCode} ${response.body.slice(0, 200)}`,
          );
        }
        if (expected === 'hidden' || expected === 'unauthenticated') {
          const leaked = [
            world.tenant.id,
            ...memberEmails.filter((e) => e !== principalEmail(world, principal.name)),
          ].filter((secret) => response.body.includes(secret));
          if (leaked.length > 0) mismatches.push(`${where}: response carries ${leaked.join(', ')}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
    // Routes x principals actually exercised (the closing note quotes this size).
    expect(outcomes.length).toBe(t.app.tenantRoutes.length * PRINCIPALS.length);
  });
});

function principalEmail(world: World, name: string): string | undefined {
  const key = name === 'other tenant owner' ? 'otherOwner' : name;
  return (world.users as Record<string, { email: string }>)[key]?.email;
}
