import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, type Metric, Registry } from 'prom-client';

/** Upper bounds of the latency histogram's buckets, in seconds. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

type Labels = { method: string; route: string; status: string };

/** One series: a method, route pattern and status, with its count and latency histogram. */
interface Series {
  labels: Labels;
  count: number;
  sum: number;
  /** Answers per bucket, not cumulative; the last slot is +Inf. */
  buckets: Float64Array;
}

/**
 * Request counts and latencies by method, route pattern and status. Recording one answer is a map
 * lookup and a few additions: prom-client's labelled `inc` and `observe` validated and hashed the
 * labels on every call, and with an async hook around them they were a visible share of a cached
 * read. The Prometheus text is built when scraped, from the same series.
 */
export class RequestMetrics {
  readonly #series = new Map<string, Series>();

  record(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let series = this.#series.get(key);
    if (!series) {
      series = {
        labels: { method, route, status: String(status) },
        count: 0,
        sum: 0,
        buckets: new Float64Array(BUCKETS.length + 1),
      };
      this.#series.set(key, series);
    }
    series.count += 1;
    series.sum += seconds;
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
    series.buckets[i]! += 1;
  }

  all(): Iterable<Series> {
    return this.#series.values();
  }

  reset(): void {
    this.#series.clear();
  }

  /** The two metrics in prom-client's shape, for a Registry to print. */
  metrics(): Metric[] {
    const metric = (name: string, help: string, type: string, values: () => unknown[]) => {
      const head = { name, help, type, aggregator: 'sum' };
      return { ...head, get: async () => ({ ...head, values: values() }), reset: () => this.reset() };
    };
    return [
      metric('http_requests_total', 'HTTP requests answered', 'counter', () =>
        [...this.all()].map((s) => ({ labels: s.labels, value: s.count })),
      ),
      metric('http_request_duration_seconds', 'Time to answer HTTP requests', 'histogram', () =>
        [...this.all()].flatMap(histogramValues),
      ),
    ] as unknown as Metric[];
  }
}

function histogramValues(series: Series) {
  const name = 'http_request_duration_seconds';
  const values = [];
  let cumulative = 0;
  for (let i = 0; i <= BUCKETS.length; i++) {
    cumulative += series.buckets[i]!;
    values.push({
      labels: { ...series.labels, le: i < BUCKETS.length ? BUCKETS[i]! : '+Inf' },
      value: cumulative,
      metricName: `${name}_bucket`,
    });
  }
  values.push({ labels: series.labels, value: series.sum, metricName: `${name}_sum` });
  values.push({ labels: series.labels, value: series.count, metricName: `${name}_count` });
  return values;
}

/**
 * Prometheus metrics for one app: a registry of its own (tests build many apps in one process),
 * request counts and latencies by route pattern (never by raw URL, which would explode the label
 * set), and Node's process metrics.
 */
export function registerMetrics(app: FastifyInstance): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new RequestMetrics();
  for (const metric of requests.metrics()) registry.registerMetric(metric);
  // A callback hook: an async one costs a promise and a turn of the microtask queue per request.
  app.addHook('onResponse', (request, reply, done) => {
    requests.record(
      request.method,
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });
  return registry;
}
