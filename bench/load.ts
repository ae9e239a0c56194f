/**
 * Drives one scenario with autocannon (in this process) and reduces the result to what the report
 * shows. Only 2xx answers count as throughput: a scenario that starts failing must not look fast.
 */
import autocannon from 'autocannon';
import * as hdr from 'hdr-histogram-js';

export interface Request {
  method?: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Builds each request just before it is sent (refresh rotation: a token from the last answer). */
  setupRequest?: (request: { body?: string }) => { body?: string };
  onResponse?: (status: number, body: string) => void;
}

export interface LoadResult {
  /** Successful (2xx) answers per second. */
  rps: number;
  /** Latency percentiles of the 2xx answers, in milliseconds (to the microsecond). */
  p50: number;
  p99: number;
  /** Answers that were not 2xx, plus socket errors and timeouts. */
  failures: number;
  seconds: number;
}

export interface LoadOptions {
  url: string;
  request: Request;
  connections: number;
  seconds: number;
  /** Seconds of untimed load first, so JIT and caches are warm. */
  warmup?: number;
  /** Runs between the warm-up and the measured load. */
  beforeMeasure?: () => Promise<unknown>;
}

export async function drive(opts: LoadOptions): Promise<LoadResult> {
  if (opts.warmup) await fire({ ...opts, seconds: opts.warmup });
  await opts.beforeMeasure?.();
  return fire(opts);
}

async function fire(opts: LoadOptions): Promise<LoadResult> {
  const { request } = opts;
  const body = request.body === undefined ? undefined : JSON.stringify(request.body);
  const headers: Record<string, string> = { ...request.headers };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const result = await autocannon({
    histograms: { latencies: microsecondLatencies() },
    url: opts.url,
    connections: opts.connections,
    duration: opts.seconds,
    timeout: 30,
    requests: [
      {
        method: request.method ?? 'GET',
        path: request.path,
        headers,
        ...(body === undefined ? {} : { body }),
        ...(request.setupRequest ? { setupRequest: request.setupRequest } : {}),
        ...(request.onResponse ? { onResponse: request.onResponse } : {}),
      },
    ] as autocannon.Request[],
  } as autocannon.Options);
  const ok = result['2xx'];
  return {
    rps: ok / result.duration,
    p50: result.latency.p50 / 1000,
    p99: result.latency.p99 / 1000,
    failures: result.non2xx + result.errors + result.timeouts,
    seconds: result.duration,
  };
}

/**
 * autocannon's latency histogram takes whole milliseconds (it truncates each response's time), so
 * a 0.6 ms read counts as 0 and a p99 of 1.9 ms as 1: too coarse for the targets that compare
 * latencies of a millisecond or two (a JWT read's p99 under a login flood against idle, the last
 * members page's p50 against the first's). This one, handed to autocannon in its place, records
 * microseconds, and autocannon's percentiles come out in microseconds.
 */
function microsecondLatencies(): hdr.Histogram {
  const histogram = hdr.build({
    useWebAssembly: false,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const record = histogram.recordValue.bind(histogram);
  const recordWithInterval = histogram.recordValueWithExpectedInterval.bind(histogram);
  histogram.recordValue = (ms: number) => record(Math.round(ms * 1000));
  histogram.recordValueWithExpectedInterval = (ms: number, interval: number) =>
    recordWithInterval(Math.round(ms * 1000), interval * 1000);
  return histogram;
}

/** Milliseconds for the report: two decimals, enough for the sub-millisecond reads. */
export function ms(value: number): string {
  return value.toFixed(2);
}

/** The largest `nodejs_eventloop_lag_p99_seconds` among the workers answering, in ms. */
export async function eventLoopLagP99(url: string, token: string, workers: number): Promise<number> {
  // prom-client resets the lag histogram on every scrape, so a scrape before a phase starts the
  // window and one after reads it. Round-robin spreads consecutive scrapes over the workers.
  let worst = 0;
  for (let i = 0; i < workers * 2; i++) {
    const text = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } }).then((r) =>
      r.text(),
    );
    const match = /^nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text);
    if (match) worst = Math.max(worst, Number(match[1]) * 1000);
  }
  return worst;
}
