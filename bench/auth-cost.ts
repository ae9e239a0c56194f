/**
 * The cost of authenticating with a cached API key next to a JWT, in-process, through the same
 * `app.inject`: GET /v1/auth/principal (the contract's "who am I") and POST /v1/authz/check, both
 * answered from caches alone for both kinds, plus the
 * authenticators on their own. Run: `npx tsx bench/auth-cost.ts` (N=20000 by default).
 */
import { N, startBenchApp, time } from './bench-app.js';

const { app, tenantId, jwt, close } = await startBenchApp();
const issued = await app.inject({
  method: 'POST',
  url: `/v1/tenants/${tenantId}/api-keys`,
  headers: jwt,
  payload: { name: 'bench', scope: 'admin' },
});
const { key } = issued.json() as { key: string };
const apiKey = { authorization: `Bearer ${key}` };

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

await close();
