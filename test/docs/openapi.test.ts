import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../app.js';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

interface Operation {
  summary?: string;
  description?: string;
}

/**
 * The generated reference at /docs is only as good as the route schemas: every operation in
 * /openapi.json states what it does in a summary, and how it behaves (errors, limits) in a
 * description. A route added without them fails here, named.
 */
describe('the OpenAPI document', () => {
  let t: TestApp;
  let paths: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>;
  beforeAll(async () => {
    t = await createTestApp();
    const response = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    paths = response.json<{ paths: typeof paths }>().paths;
  });
  afterAll(() => t.close());

  const operations = () =>
    Object.entries(paths).flatMap(([path, item]) =>
      METHODS.flatMap((method) => {
        const operation = item[method];
        return operation ? [{ name: `${method.toUpperCase()} ${path}`, operation }] : [];
      }),
    );

  it('lists the operations of every module', () => {
    const names = operations().map((o) => o.name);
    expect(names.length).toBeGreaterThan(50);
    expect(names).toContain('POST /v1/auth/login');
    expect(names).toContain('GET /v1/tenants/{tenantId}/audit-log/verify');
  });

  it('gives every operation a summary and a description', () => {
    const missing = operations().flatMap(({ name, operation }) => [
      ...(operation.summary?.trim() ? [] : [`${name}: summary`]),
      ...(operation.description?.trim() ? [] : [`${name}: description`]),
    ]);
    expect(missing).toEqual([]);
  });
});
