/**
 * The cost of a permission check once it is cached, in-process: the resolver alone, the tenant
 * guard on a real route (GET /v1/tenants/:tenantId), and POST /v1/authz/check, each next to the
 * bare `GET /health` through the same `app.inject`. Run: `npx tsx bench/permission-check.ts`.
 * Figures are per call on this machine; `npm run bench` (HTTP, autocannon) is the load benchmark.
 */
import { N, startBenchApp, time } from './bench-app.js';

const { app, userId, tenantId, jwt: auth, close } = await startBenchApp();

console.log(`N = ${N} sequential calls each, embedded database\n`);
await time('resolver.forMember (cached)', () => app.container.permissions.forMember(tenantId, userId));
const health = await time('inject GET /health (no auth)', () =>
  app.inject({ method: 'GET', url: '/health' }),
);
const me = await time('inject GET /v1/users/me (JWT + session check)', () =>
  app.inject({ method: 'GET', url: '/v1/users/me', headers: auth }),
);
const guarded = await time('inject GET /v1/tenants/:id (JWT + guard)', () =>
  app.inject({ method: 'GET', url: `/v1/tenants/${tenantId}`, headers: auth }),
);
const check = await time('inject POST /v1/authz/check', () =>
  app.inject({
    method: 'POST',
    url: '/v1/authz/check',
    headers: auth,
    payload: { tenantId, permission: 'members:read' },
  }),
);
console.log(
  `\nratios to GET /health: /users/me ${(health / me).toFixed(2)}, tenant route ${(health / guarded).toFixed(2)}, authz/check ${(health / check).toFixed(2)}`,
);

await close();
