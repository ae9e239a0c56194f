/**
 * The cost of a permission check once it is cached, in-process: the resolver alone, the tenant
 * guard on a real route (GET /v1/tenants/:tenantId), and POST /v1/authz/check, each next to the
 * bare `GET /health` through the same `app.inject`. Run: `npx tsx bench/permission-check.ts`.
 * Figures are per call on this machine; `npm run bench` (HTTP, autocannon) is the load benchmark.
 */
import { performance } from 'node:perf_hooks';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/platform/db.js';
import { migrate } from '../src/platform/migrate.js';

const N = Number(process.env.N ?? 20_000);

const database = await openDatabase({});
await migrate(database.db);
const config = loadConfig({
  NODE_ENV: 'test',
  SECRET_KEY: 'bench-secret-key-that-is-long-enough-0123456789',
  LOG_LEVEL: 'silent',
});
const app = await buildApp({ config, database, argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } });

const register = await app.inject({
  method: 'POST',
  url: '/v1/auth/register',
  payload: { email: 'bench@example.test', password: 'bench-password-123' },
});
const { accessToken, user } = register.json() as { accessToken: string; user: { id: string } };
const auth = { authorization: `Bearer ${accessToken}` };
const tenant = await app.inject({
  method: 'POST',
  url: '/v1/tenants',
  headers: auth,
  payload: { name: 'Bench' },
});
const tenantId = (tenant.json() as { id: string }).id;

async function time(label: string, run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 500; i++) await run(); // warm: JIT and caches
  const start = performance.now();
  for (let i = 0; i < N; i++) await run();
  const micros = ((performance.now() - start) * 1000) / N;
  console.log(
    `${label.padEnd(48)} ${micros.toFixed(2).padStart(8)} µs/op  ${Math.round(1e6 / micros)
      .toString()
      .padStart(8)} op/s`,
  );
  return micros;
}

console.log(`N = ${N} sequential calls each, embedded database\n`);
await time('resolver.forMember (cached)', () => app.container.permissions.forMember(tenantId, user.id));
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

await app.close();
await database.close();
