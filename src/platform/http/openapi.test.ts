import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/app.js';

interface Operation {
  summary?: string;
  description?: string;
  security?: Array<Record<string, string[]>>;
  tags?: string[];
}
interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  servers: Array<{ url: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { type: string }>; schemas: Record<string, unknown> };
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Every method and path Fastify registered, read back from its route tree. */
function registeredRoutes(app: FastifyInstance): Array<{ method: string; url: string }> {
  const routes: Array<{ method: string; url: string }> = [];
  const parents: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)[├└]── (.*?)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    const url = (depth > 0 ? parents[depth - 1]! : '') + match[2]!;
    parents[depth] = url;
    for (const method of match[3]?.split(', ') ?? []) routes.push({ method, url });
  }
  return routes;
}

/** `/v1/users/:id/` → `/v1/users/{id}`: how the document spells a Fastify path. */
const documentPath = (url: string) => url.replace(/:(\w+)/g, '{$1}').replace(/(.)\/$/, '$1');

describe('OpenAPI document', () => {
  let t: TestApp;
  let doc: OpenApiDocument;
  let operations: Array<{ method: string; path: string; operation: Operation }>;
  beforeAll(async () => {
    t = await createTestApp({ env: { AUTH_RATE_LIMIT_PER_MINUTE: '0' } });
    const response = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    doc = response.json() as OpenApiDocument;
    operations = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => METHODS.includes(method))
        .map(([method, operation]) => ({ method: method.toUpperCase(), path, operation })),
    );
  });
  afterAll(() => t.close());

  it('is OpenAPI 3.1 for this service', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBe('Tessera');
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(doc.servers).toEqual([{ url: 'http://tessera.test' }]);
  });

  it('declares bearer and API key security schemes', () => {
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.securitySchemes.apiKey).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'X-API-Key',
    });
  });

  it('documents every route the app serves, and nothing it does not', () => {
    const served = registeredRoutes(t.app)
      .filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS')
      // The reference page and the document itself are hidden from the document.
      .filter((r) => !r.url.startsWith('/docs') && r.url !== '/openapi.json')
      .map((r) => `${r.method} ${documentPath(r.url)}`);
    const documented = operations.map((o) => `${o.method} ${documentPath(o.path)}`);
    // Sanity: the route tree was read, with the service routes and the /v1 modules in it.
    for (const route of [
      'GET /',
      'GET /health',
      'GET /health/ready',
      'GET /metrics',
      'GET /.well-known/jwks.json',
      'GET /.well-known/openid-configuration',
      'POST /v1/auth/login',
      'DELETE /v1/auth/sessions/{id}',
      'GET /v1/users/me',
    ]) {
      expect(served).toContain(route);
    }
    expect([...new Set(documented)].sort()).toEqual([...new Set(served)].sort());
  });

  it('gives every operation a summary and a description', () => {
    for (const { method, path, operation } of operations) {
      expect(operation.summary?.trim(), `${method} ${path} summary`).toBeTruthy();
      expect(operation.description?.trim(), `${method} ${path} description`).toBeTruthy();
    }
  });

  const KEY_ROUTES = new Set([
    'GET /v1/auth/principal',
    'POST /v1/authz/check',
    'POST /v1/authz/check-batch',
    'GET /v1/permissions/',
    'GET /v1/permissions/{key}',
  ]);

  it('states security exactly where the route demands credentials', async () => {
    const v1 = operations.filter((o) => o.path.startsWith('/v1/'));
    expect(v1.length).toBeGreaterThan(5);
    const secured = v1.filter((o) => o.operation.security?.length);
    expect(secured.length).toBeGreaterThan(0);
    expect(secured.length).toBeLessThan(v1.length);
    for (const { method, path, operation } of v1) {
      const url = path.replace(/\{\w+\}/g, '0190f2a0-1234-7000-8000-00000000abcd');
      const response = await t.app.inject({ method: method as 'GET', url });
      const refused = response.statusCode === 401 && response.json().code === 'unauthenticated';
      if (operation.security?.length) {
        // API keys are accepted on tenant routes and on the few routes that opt in; nowhere else.
        const acceptsKeys = path.includes('{tenantId}') || KEY_ROUTES.has(`${method} ${path}`);
        expect(operation.security, `${method} ${path}`).toEqual(
          acceptsKeys ? [{ bearerAuth: [] }, { apiKey: [] }] : [{ bearerAuth: [] }],
        );
        expect(refused, `${method} ${path} without credentials answered ${response.statusCode}`).toBe(true);
      } else {
        expect(refused, `${method} ${path} is documented public but asked for credentials`).toBe(false);
      }
    }
  });

  it('resolves every $ref inside the document', () => {
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of new Set(refs)) {
      const target = /"\$ref":"#\/components\/schemas\/([^"]+)"/.exec(ref)?.[1];
      expect(target, ref).toBeDefined();
      expect(doc.components.schemas[target!], ref).toBeDefined();
    }
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['Problem', 'User', 'TokenPair']),
    );
  });

  it('serves the interactive reference at /docs', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/docs' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.body).toMatch(/<html/i);
  });
});
