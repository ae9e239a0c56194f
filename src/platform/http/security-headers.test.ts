import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/app.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('security headers, request ids and CORS', () => {
  let t: TestApp;
  let https: TestApp;
  let cors: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
    https = await createTestApp({ database: t.database, env: { PUBLIC_URL: 'https://id.example.com' } });
    cors = await createTestApp({
      database: t.database,
      env: { CORS_ORIGINS: 'https://app.example.com,https://admin.example.com' },
    });
  });
  afterAll(async () => {
    await cors.close();
    await https.close();
    await t.close();
  });

  describe('request id', () => {
    it('every response carries a fresh x-request-id', async () => {
      const a = await t.app.inject({ method: 'GET', url: '/health' });
      const b = await t.app.inject({ method: 'GET', url: '/no-such-route' });
      expect(a.headers['x-request-id']).toMatch(UUID_V7);
      expect(b.headers['x-request-id']).toMatch(UUID_V7);
      expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
    });

    it('echoes a sane incoming X-Request-Id, and logs under it', async () => {
      for (const id of ['abc-123', 'trace.span:42_x', 'a'.repeat(128)]) {
        const response = await t.app.inject({
          method: 'GET',
          url: '/health',
          headers: { 'x-request-id': id },
        });
        expect(response.headers['x-request-id']).toBe(id);
      }
      expect(t.logs.some((line) => line.reqId === 'trace.span:42_x')).toBe(true);
    });

    it('replaces a malicious or oversized one', async () => {
      for (const id of [
        'a'.repeat(129),
        'has spaces',
        'line\nbreak',
        'fake\r\nset-cookie: x=1',
        '<script>alert(1)</script>',
        '"quoted"',
        '',
      ]) {
        const response = await t.app.inject({
          method: 'GET',
          url: '/health',
          headers: { 'x-request-id': id },
        });
        expect(response.headers['x-request-id']).toMatch(UUID_V7);
        expect(response.headers['set-cookie']).toBeUndefined();
      }
    });
  });

  describe('security headers', () => {
    const expectApiHeaders = (headers: Record<string, unknown>) => {
      expect(headers['x-content-type-options']).toBe('nosniff');
      expect(headers['x-frame-options']).toBe('DENY');
      expect(headers['content-security-policy']).toMatch(/^default-src 'none'/);
      expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(headers['cache-control']).toBe('no-store');
      expect(headers['referrer-policy']).toBe('no-referrer');
    };

    it('are on JSON answers, errors included', async () => {
      const ok = await t.app.inject({ method: 'GET', url: '/health' });
      expect(ok.headers['content-type']).toMatch(/^application\/json/);
      expectApiHeaders(ok.headers);
      expectApiHeaders((await t.app.inject({ method: 'GET', url: '/nope' })).headers);
      expectApiHeaders((await t.app.inject({ method: 'GET', url: '/v1/users/me' })).headers);
      expectApiHeaders(
        (
          await t.app.inject({
            method: 'POST',
            url: '/v1/auth/login',
            headers: { 'content-type': 'application/json' },
            payload: '{',
          })
        ).headers,
      );
    });

    it('send HSTS only when PUBLIC_URL is https', async () => {
      const plain = await t.app.inject({ method: 'GET', url: '/health' });
      expect(plain.headers['strict-transport-security']).toBeUndefined();
      const secure = await https.app.inject({ method: 'GET', url: '/health' });
      expect(secure.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
      expectApiHeaders(secure.headers);
      const error = await https.app.inject({ method: 'GET', url: '/%zz' });
      expect(error.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    });

    it('let the /docs page run its own scripts, but never be framed', async () => {
      const docs = await t.app.inject({ method: 'GET', url: '/docs' });
      expect(docs.statusCode).toBe(200);
      expect(docs.headers['content-security-policy']).not.toMatch(/^default-src 'none'/);
      expect(docs.headers['x-frame-options']).toBe('DENY');
      expect(docs.headers['x-content-type-options']).toBe('nosniff');
    });
  });

  describe('CORS', () => {
    const preflight = (app: TestApp, origin: string, method = 'POST') =>
      app.app.inject({
        method: 'OPTIONS',
        url: '/v1/auth/login',
        headers: {
          origin,
          'access-control-request-method': method,
          'access-control-request-headers': 'content-type,authorization',
        },
      });

    it('without CORS_ORIGINS no origin is allowed', async () => {
      const response = await t.app.inject({
        method: 'GET',
        url: '/health',
        headers: { origin: 'https://app.example.com' },
      });
      expect(response.headers['access-control-allow-origin']).toBeUndefined();
      const pre = await preflight(t, 'https://app.example.com');
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
      expect(pre.headers['access-control-allow-methods']).toBeUndefined();
    });

    it('allows a listed origin, preflight included', async () => {
      const pre = await preflight(cors, 'https://app.example.com');
      expect(pre.statusCode).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBe('https://app.example.com');
      expect(String(pre.headers['access-control-allow-headers']).toLowerCase()).toContain('authorization');
      expect(String(pre.headers.vary)).toContain('Origin');

      const get = await cors.app.inject({
        method: 'GET',
        url: '/health',
        headers: { origin: 'https://admin.example.com' },
      });
      expect(get.headers['access-control-allow-origin']).toBe('https://admin.example.com');
      expect(String(get.headers['access-control-expose-headers'])).toContain('x-request-id');
      expect(get.headers['access-control-allow-credentials']).toBeUndefined();
    });

    it('allows every method the API uses', async () => {
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
        const pre = await preflight(cors, 'https://app.example.com', method);
        expect(String(pre.headers['access-control-allow-methods']).split(/,\s*/)).toContain(method);
      }
    });

    it('does not allow another origin', async () => {
      for (const origin of ['https://evil.example.com', 'https://app.example.com.evil.test', 'null']) {
        const pre = await preflight(cors, origin);
        expect(pre.headers['access-control-allow-origin']).toBeUndefined();
        const get = await cors.app.inject({ method: 'GET', url: '/health', headers: { origin } });
        expect(get.headers['access-control-allow-origin']).toBeUndefined();
      }
    });
  });
});
