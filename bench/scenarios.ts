/**
 * The requests each scenario repeats. Tokens come from real logins against the server under test;
 * refresh keeps one rotating refresh token per connection, as a client would.
 */
import type { Fixtures } from './fixtures.js';
import type { Request } from './load.js';

export interface Tokens {
  jwt: string;
  /** Fresh refresh tokens, one per connection of the refresh scenario. */
  refreshTokens: string[];
}

export interface Scenario {
  name: string;
  /** Read scenarios are repeated on the scale data. */
  read: boolean;
  request: Request;
  /** Seconds driven before measuring, when not the benchmark's default. */
  warmup?: number;
}

/**
 * V8 optimises code by how often it runs, not for how long: two seconds of reads run their path tens
 * of thousands of times, two seconds of sign-ins (about 50 a second on one core, each an Argon2id
 * hash) a hundred. The sign-in path is still being compiled long after that: after 15 s the
 * compiler's threads still spent 0.45 ms per sign-in and the event loop 3.4 ms, after 60 s 0.11 ms
 * and 3.2 ms (one worker, hash threads on its core). A running service signs users in for hours, so
 * the benchmark measures that steady state.
 */
export const LOGIN_WARMUP = 60;

export const LOGIN = 'POST /v1/auth/login';

export const CHECK_PERMISSION = 'members:read';

export function scenarios(f: Fixtures, tokens: Tokens): Scenario[] {
  const bearer = { authorization: `Bearer ${tokens.jwt}` };
  const check = { tenantId: f.tenantId, permission: CHECK_PERMISSION };
  return [
    { name: 'GET /v1/users/me (JWT)', read: true, request: { path: '/v1/users/me', headers: bearer } },
    {
      // A key cannot read /v1/users/me (it is no user); its own "who am I" is the same read.
      name: 'GET /v1/auth/principal (API key)',
      read: true,
      request: { path: '/v1/auth/principal', headers: { 'x-api-key': f.apiKey } },
    },
    {
      name: 'POST /v1/authz/check',
      read: true,
      request: { method: 'POST', path: '/v1/authz/check', headers: bearer, body: check },
    },
    {
      name: 'POST /v1/authz/check-batch (100)',
      read: true,
      request: {
        method: 'POST',
        path: '/v1/authz/check-batch',
        headers: bearer,
        body: { checks: Array.from({ length: 100 }, () => check) },
      },
    },
    {
      name: 'members page of 20 (first)',
      read: true,
      request: { path: `/v1/tenants/${f.tenantId}/members?limit=20`, headers: bearer },
    },
    {
      name: 'members page of 20 (last)',
      read: true,
      request: {
        path: `/v1/tenants/${f.tenantId}/members?limit=20&cursor=${f.lastPageCursor}`,
        headers: bearer,
      },
    },
    { name: LOGIN, read: false, request: login(f), warmup: LOGIN_WARMUP },
    // Every refresh spends a token, and the pool holds one per connection: no warm-up to spend them.
    { name: 'POST /v1/auth/refresh', read: false, request: refresh(tokens.refreshTokens), warmup: 0 },
  ];
}

export function login(f: Fixtures): Request {
  return { method: 'POST', path: '/v1/auth/login', body: { email: f.email, password: f.password } };
}

/**
 * Every request takes a live refresh token from the pool and puts the one it gets back in, so
 * each token is sent once, as a client would. (autocannon resets a connection's context after
 * each pass over its request list, so the pool, not the context, carries the tokens.)
 */
function refresh(pool: string[]): Request {
  return {
    method: 'POST',
    path: '/v1/auth/refresh',
    body: { refreshToken: 'set per request' },
    setupRequest(request) {
      return { ...request, body: JSON.stringify({ refreshToken: pool.pop() }) };
    },
    onResponse(status, body) {
      if (status === 200) pool.push((JSON.parse(body) as { refreshToken: string }).refreshToken);
    },
  };
}
