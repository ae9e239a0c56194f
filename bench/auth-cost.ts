/**
 * The cost of authenticating with a cached API key next to a JWT, in-process, through the same
 * `app.inject`: GET /v1/auth/principal (the contract's "who am I", one query in its handler for
 * both kinds) and POST /v1/authz/check (answered from caches alone for both), plus the
 * authenticators on their own. Run: `npx tsx bench/auth-cost.ts` (N=20000 by default).
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
  AUTH_RATE_LIMIT_PER_MINUTE: '0',
});
const app = await buildApp({ config, database, argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } });

const register = await app.inject({
  method: 'POST',
  url: '/v1/auth/register',
  payload: { email: 'bench@example.test', password: 'bench-password-123' },
});
const { accessToken } = register.json() as { accessToken: string };
const jwt = { authorization: `Bearer ${accessToken}` };
const tenant = await app.inject({
  method: 'POST',
  url: '/v1/tenants',
  headers: jwt,
  payload: { name: 'Bench' },
});
const tenantId = (tenant.json() as { id: string }).id;
const issued = await app.inject({
  method: 'POST',
  url: `/v1/tenants/${tenantId}/api-keys`,
  headers: jwt,
  payload: { name: 'bench', scope: 'admin' },
});
const { key } = issued.json() as { key: string };
const apiKey = { authorization: `Bearer ${key}` };

async function time(label: string, run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 500; i++) await run(); // warm: JIT and caches
  const start = performance.now();
  for (let i = 0; i < N; i++) await run();
  const micros = ((performance.now() - start) * 1000) / N;
  console.log(
    `${label.padEnd(52)} ${micros.toFixed(2).padStart(8)} µs/op  ${Math.round(1e6 / micros)
      .toString()
      .padStart(8)} req/s`,
  );
  return micros;
}

async function expectOk(headers: Record<string, string>): Promise<void> {
  const response = await app.inject({ method: 'GET', url: '/v1/auth/principal', headers });
  if (response.statusCode !== 200) throw new Error(`${response.statusCode} ${response.body}`);
}
await expectOk(jwt);
await expectOk(apiKey);

console.log(`N = ${N} sequential calls each, embedded database (PGlite)\n`);
const { authenticator } = app.container;
const jwtAlone = await time('authenticator: JWT (cached session)', () =>
  authenticator.authenticate(jwt.authorization),
);
const keyAlone = await time('authenticator: API key (cached)', () =>
  authenticator.authenticate(apiKey.authorization),
);
const jwtPrincipal = await time('inject GET /v1/auth/principal with JWT', () =>
  app.inject({ method: 'GET', url: '/v1/auth/principal', headers: jwt }),
);
const keyPrincipal = await time('inject GET /v1/auth/principal with API key', () =>
  app.inject({ method: 'GET', url: '/v1/auth/principal', headers: apiKey }),
);
const check = { tenantId, permission: 'tenant:read' };
const jwtCheck = await time('inject POST /v1/authz/check with JWT', () =>
  app.inject({ method: 'POST', url: '/v1/authz/check', headers: jwt, payload: check }),
);
const keyCheck = await time('inject POST /v1/authz/check with API key', () =>
  app.inject({ method: 'POST', url: '/v1/authz/check', headers: apiKey, payload: check }),
);
console.log(
  `\nAPI key / JWT: authenticator ${(keyAlone / jwtAlone).toFixed(2)}x, ` +
    `/principal ${(keyPrincipal / jwtPrincipal).toFixed(2)}x, /authz/check ${(keyCheck / jwtCheck).toFixed(2)}x`,
);

await app.close();
await database.close();
