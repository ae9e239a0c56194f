import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { RequestMetrics } from './metrics.js';

/** The value of one sample line, or undefined when the series does not exist. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics', () => {
  let t: TestApp;
  let guarded: TestApp;
  const TOKEN = 'metrics-token-0123456789';
  beforeAll(async () => {
    t = await createTestApp();
    guarded = await createTestApp({ database: t.database, env: { METRICS_TOKEN: TOKEN } });
  });
  afterAll(async () => {
    await guarded.close();
    await t.close();
  });

  const scrape = async (app = t) => {
    const response = await app.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    return response;
  };

  it('answers Prometheus text with process metrics', async () => {
    const response = await scrape();
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(response.body).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(response.body).toContain('# TYPE nodejs_heap_size_used_bytes gauge');
    expect(response.body).toContain('# TYPE http_request_duration_seconds histogram');
  });

  it('counts requests by method, route pattern and status', async () => {
    const series = 'http_requests_total{method="GET",route="/health",status="200"}';
    const before = sample((await scrape()).body, series) ?? 0;
    await t.app.inject({ method: 'GET', url: '/health' });
    await t.app.inject({ method: 'GET', url: '/health' });
    const after = (await scrape()).body;
    expect(sample(after, series)).toBe(before + 2);
    expect(after).toContain('http_request_duration_seconds_count{method="GET",route="/health",status="200"}');
  });

  it('labels by route pattern, never by raw URL, so ids cannot explode the label set', async () => {
    const id = '0190f2a0-1234-7000-8000-00000000abcd';
    await t.app.inject({ method: 'DELETE', url: `/v1/auth/sessions/${id}` });
    await t.app.inject({ method: 'GET', url: `/no/such/${id}` });
    const text = (await scrape()).body;
    expect(text).not.toContain(id);
    expect(text).toContain('route="/v1/auth/sessions/:id",status="401"');
    expect(text).toMatch(/http_requests_total\{method="GET",route="unmatched",status="404"\} \d+/);
  });

  it('keeps each app’s registry to itself', async () => {
    const series = 'http_requests_total{method="GET",route="/",status="200"}';
    const scrapeGuarded = async () =>
      (
        await guarded.app.inject({
          method: 'GET',
          url: '/metrics',
          headers: { authorization: `Bearer ${TOKEN}` },
        })
      ).body;
    const before = sample(await scrapeGuarded(), series) ?? 0;
    await t.app.inject({ method: 'GET', url: '/' });
    expect(sample(await scrapeGuarded(), series) ?? 0).toBe(before);
    await guarded.app.inject({ method: 'GET', url: '/' });
    expect(sample(await scrapeGuarded(), series)).toBe(before + 1);
  });

  describe('with METRICS_TOKEN', () => {
    const get = (headers: Record<string, string>) =>
      guarded.app.inject({ method: 'GET', url: '/metrics', headers });

    it('refuses a scrape without the bearer token', async () => {
      const response = await get({});
      expect(response.statusCode).toBe(401);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.headers['www-authenticate']).toBe('Bearer');
      expect(response.json()).toMatchObject({ status: 401, code: 'unauthenticated' });
      expect(response.body).not.toContain('http_requests_total');
    });

    it('refuses a wrong token, a prefix of it, or the token in another scheme', async () => {
      for (const authorization of [
        'Bearer wrong-token',
        `Bearer ${TOKEN.slice(0, -1)}`,
        `Bearer ${TOKEN}x`,
        `Basic ${TOKEN}`,
        TOKEN,
        'Bearer ',
      ]) {
        expect((await get({ authorization })).statusCode).toBe(401);
      }
    });

    it('answers with the right token', async () => {
      const response = await get({ authorization: `Bearer ${TOKEN}` });
      expect(response.statusCode).toBe(200);
      expect(response.body).toContain('http_requests_total');
    });
  });
});

describe('RequestMetrics', () => {
  it('prints cumulative buckets (a bound holds what equals it), sum and count per series', async () => {
    const metrics = new RequestMetrics();
    const registry = new Registry();
    for (const metric of metrics.metrics()) registry.registerMetric(metric);
    for (const seconds of [0.0005, 0.001, 0.003, 3]) metrics.record('POST', '/v1/x', 201, seconds);
    metrics.record('POST', '/v1/x', 400, 0.0001);
    const text = await registry.metrics();
    const labels = 'method="POST",route="/v1/x",status="201"';
    const bucket = (le: string) => sample(text, `http_request_duration_seconds_bucket{${labels},le="${le}"}`);
    expect([bucket('0.001'), bucket('0.0025'), bucket('0.005'), bucket('2.5'), bucket('+Inf')]).toEqual([
      2, 2, 3, 3, 4,
    ]);
    expect(sample(text, `http_request_duration_seconds_sum{${labels}}`)).toBeCloseTo(3.0045);
    expect(sample(text, `http_request_duration_seconds_count{${labels}}`)).toBe(4);
    expect(sample(text, `http_requests_total{${labels}}`)).toBe(4);
    expect(sample(text, 'http_requests_total{method="POST",route="/v1/x",status="400"}')).toBe(1);
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('route="/v1/x"');
  });
});
