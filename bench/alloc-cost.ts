/**
 * Bytes a read scenario allocates on the JavaScript heap per request, for work on the read targets
 * where CPU time is too noisy to compare two builds (a shared virtual machine's throughput drifts by
 * tenths between runs; allocation does not, and a fifth of a members page's CPU is the collector's).
 * The whole app runs in this process on a fresh database of the PostgreSQL server at DATABASE_URL,
 * with the benchmark's fixtures, and is called through app.inject: no sockets, so the figure is the
 * app's own (Fastify, the route, the driver's parsing, serialisation) plus inject's, which is the
 * same for every build. Logging is off. Each count runs 300 requests between two reads of the
 * heap, with no collection in between (a large young generation and a collection just before):
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
 *     node --expose-gc --max-semi-space-size=256 --import tsx bench/alloc-cost.ts
 *
 * Options: --scenario NAME (a read of bench/scenarios.ts; the first members page by default),
 * --profile (also where the bytes come from: V8's sampling heap profiler, per function).
 */
import { Session } from 'node:inspector/promises';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/platform/db.js';
import type { Request } from './load.js';
import { scratchFixtures } from './probe.js';
import { scenarios } from './scenarios.js';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'members page of 20 (first)' },
    profile: { type: 'boolean', default: false },
  },
});
const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('Run with node --expose-gc --max-semi-space-size=256 (see the header)');

const COUNTS = 5;
const PER_COUNT = 300;
const { fixtures, databaseUrl, env, drop } = await scratchFixtures('tessera_alloc_cost');
const database = await openDatabase({ databaseUrl });
const app = await buildApp({ config: loadConfig({ ...env, LOG_LEVEL: 'silent' }), database });

try {
  const login = await app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { email: fixtures.email, password: fixtures.password },
  });
  const scenario = scenarios(fixtures, { jwt: login.json().accessToken, refreshTokens: [] }).find(
    (s) => s.read && s.name === values.scenario,
  );
  if (!scenario) throw new Error(`No read scenario is named ${values.scenario}`);
  const send = sender(app, scenario.request);
  for (let i = 0; i < 3_000; i++) await send();

  let collections = 0;
  const observer = new PerformanceObserver((list) => {
    collections += list.getEntries().length;
  });
  observer.observe({ entryTypes: ['gc'] });
  const counts: string[] = [];
  for (let k = 0; k < COUNTS; k++) {
    collect();
    // The collection's entry reaches the observer asynchronously: let it land before counting.
    await new Promise((resolve) => setTimeout(resolve, 50));
    collections = 0;
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < PER_COUNT; i++) await send();
    const bytes = (process.memoryUsage().heapUsed - before) / PER_COUNT;
    await new Promise((resolve) => setTimeout(resolve, 50));
    counts.push(collections === 0 ? bytes.toFixed(0) : 'n/a (a collection ran)');
  }
  observer.disconnect();
  console.log(`${scenario.name}: bytes allocated per request, ${COUNTS} counts: ${counts.join(', ')}`);
  if (values.profile) await profile(send);
} finally {
  await app.close();
  await database.close();
  await drop();
}
process.exit(0);

function sender(app: FastifyInstance, request: Request): () => Promise<void> {
  const options = {
    method: request.method ?? 'GET',
    url: request.path,
    headers: request.headers ?? {},
    ...(request.body === undefined ? {} : { payload: request.body as Record<string, unknown> }),
  };
  return async () => {
    const response = await app.inject(options);
    if (response.statusCode >= 300) throw new Error(`${response.statusCode} ${response.body}`);
  };
}

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** Bytes per request by function (its own allocations, and with everything it calls), top 25 each. */
async function profile(send: () => Promise<void>): Promise<void> {
  const session = new Session();
  session.connect();
  const requests = 1_000;
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 256,
    // Without these the profile keeps only what is still alive at the end: nothing of a request.
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  } as { samplingInterval: number });
  for (let i = 0; i < requests; i++) await send();
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } };
  session.disconnect();
  const own = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const walk = (node: ProfileNode, callers: Set<string>) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url
      .replace(/^file:\/\//, '')
      .replace(`${process.cwd()}/`, '')
      .replace(/^node_modules\//, '');
    const name = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    own.set(name, (own.get(name) ?? 0) + node.selfSize);
    const stack = new Set(callers).add(name);
    for (const frame of stack) inclusive.set(frame, (inclusive.get(frame) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child, stack);
  };
  walk(profile.head, new Set());
  for (const [title, sizes] of [
    ['own', own],
    ['inclusive', inclusive],
  ] as const) {
    console.log(`\nbytes per request, ${title}:`);
    for (const [name, bytes] of [...sizes].sort((a, b) => b[1] - a[1]).slice(0, 25))
      console.log(`${(bytes / requests).toFixed(0).padStart(8)}  ${name}`);
  }
}
