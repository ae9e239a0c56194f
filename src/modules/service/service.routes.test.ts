import { readFileSync } from 'node:fs';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { openTestDatabase } from '../../../test/database.js';
import { createSignedInUser } from '../../../test/factories.js';

const PACKAGE = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

describe('service routes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { AUTH_RATE_LIMIT_PER_MINUTE: '0' } });
  });
  afterAll(() => t.close());

  it('GET / names the service and its docs', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ name: 'tessera', version: PACKAGE.version, docs: '/docs' });
  });

  it('GET /health answers ok', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/health' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('GET /health/ready checks the database', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok', checks: { database: 'ok' } });
  });

  it('HEAD works on the probes, for load balancers that use it', async () => {
    expect((await t.app.inject({ method: 'HEAD', url: '/health' })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'HEAD', url: '/health/ready' })).statusCode).toBe(200);
  });

  describe('GET /.well-known/jwks.json', () => {
    it('publishes the Ed25519 public key with kid, alg and use, and never the private part', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
      expect(response.statusCode).toBe(200);
      const { keys } = response.json() as { keys: Array<Record<string, unknown>> };
      expect(keys.length).toBeGreaterThanOrEqual(1);
      for (const key of keys) {
        expect(key).toEqual({
          kty: 'OKP',
          crv: 'Ed25519',
          x: expect.stringMatching(/^[\w-]{43}$/),
          kid: expect.stringMatching(/^[\w-]+$/),
          alg: 'EdDSA',
          use: 'sig',
        });
        expect(key).not.toHaveProperty('d');
      }
      expect(response.body).not.toMatch(/"d"|"p"|"q"|private/i);
    });

    it('lets verifiers cache it briefly', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
      expect(response.headers['cache-control']).toBe('public, max-age=60');
    });

    it('verifies the service’s access tokens offline', async () => {
      const user = await createSignedInUser(t.app);
      const jwks = (
        await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
      ).json() as JSONWebKeySet;
      const header = decodeProtectedHeader(user.accessToken);
      expect(header.alg).toBe('EdDSA');
      expect(jwks.keys.map((k) => k.kid)).toContain(header.kid);
      const { payload } = await jwtVerify(user.accessToken, createLocalJWKSet(jwks), {
        issuer: 'http://tessera.test',
        algorithms: ['EdDSA'],
      });
      expect(payload.sub).toBe(user.user.id);
    });
  });

  it('GET /.well-known/openid-configuration points at this issuer', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      issuer: 'http://tessera.test',
      jwks_uri: 'http://tessera.test/.well-known/jwks.json',
      token_endpoint: 'http://tessera.test/v1/auth/token',
      grant_types_supported: expect.arrayContaining(['password', 'refresh_token']),
      id_token_signing_alg_values_supported: ['EdDSA'],
    });
  });

  it('the discovery document follows PUBLIC_URL, with no trailing slash', async () => {
    const other = await createTestApp({
      database: t.database,
      env: { PUBLIC_URL: 'https://id.example.com/' },
    });
    try {
      const response = await other.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' });
      expect(response.json()).toMatchObject({
        issuer: 'https://id.example.com',
        jwks_uri: 'https://id.example.com/.well-known/jwks.json',
      });
    } finally {
      await other.close();
    }
  });
});

describe('service routes when the database is gone', () => {
  let t: TestApp;
  beforeAll(async () => {
    const database = await openTestDatabase();
    t = await createTestApp({ database, env: { AUTH_RATE_LIMIT_PER_MINUTE: '0' } });
    await database.close();
  });
  afterAll(() => t.app.close());

  it('GET /health/ready answers 503 with the failing check', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ status: 'unavailable', checks: { database: 'unavailable' } });
  });

  it('GET /health still answers: liveness touches no dependency', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/health' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('a request that needs the database is a bare 500 naming the request id; the log keeps the cause', async () => {
    const email = 'someone-secret@example.test';
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: { 'x-request-id': 'db-down-1' },
      payload: { email, password: 'whatever-password' },
    });
    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toEqual({
      type: 'urn:tessera:problem:internal_error',
      title: 'Internal Server Error',
      status: 500,
      detail: 'Something went wrong; quote request id db-down-1',
      code: 'internal_error',
    });
    expect(response.body).not.toMatch(/select|users|stack|Failed query|\.ts:/i);

    const logged = t.logs.find((line) => line.reqId === 'db-down-1' && line.msg === 'unhandled error');
    expect(logged).toBeDefined();
    const err = logged!.err as { message: string; stack: string };
    expect(err.message).toMatch(/Failed query: select/);
    expect(err.stack).toContain('params: [redacted]');
    expect(t.logText()).not.toContain(email);
  });
});
