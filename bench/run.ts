/**
 * `npm run bench`: a bare Fastify server and Tessera, started by this script on the same cores,
 * driven by autocannon with the same connections for the same time; figures as ratios to the bare
 * server of the same run, written to bench/RESULTS.md. See docs/testing.md.
 *
 *   --seconds N        time per scenario (default 10), after a 2-second warm-up
 *   --connections N    concurrent connections (default 32)
 *   --workers 1,2      WEB_CONCURRENCY values to run (default: 1 and 2)
 *   --scale            also repeat the read scenarios on a database of --users users and
 *                      --tenants tenants with one tenant holding every user (seeded once, kept)
 *   --soak N           instead: run the mixed scenario for N seconds and report RSS over time
 *   --only TEXT        run only the scenario named TEXT, else those whose name contains TEXT
 *                      (targets needing others are then reported as not measured)
 *   --cpu-prof DIR     start Tessera with --cpu-prof, writing a .cpuprofile per process to DIR
 *   --idle-states      leave the CPUs' idle states on (by default the run holds them off where it
 *                      may: bench/cpu-idle.ts says why)
 *
 * DATABASE_URL names the PostgreSQL server to use (the script creates its own databases there);
 * without it the embedded database is used.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { holdCpusAwake } from './cpu-idle.js';
import { type Fixtures, loginFor, makeFixtures, type Where } from './fixtures.js';
import { drive, eventLoopLagP99, type LoadResult, ms } from './load.js';
import { LOGIN_ROUNDS, loginRoundSeconds, loginsAndHashRate } from './login-share.js';
import { freePort, pinSelf, placement, rssMb, type Server, startServer } from './processes.js';
import { renderReport, type Section } from './report.js';
import { LOGIN, LOGIN_WARMUP, type Scenario, scenarios, type Tokens } from './scenarios.js';
import { dropDatabase, ensureDatabase, pinBackends, serverVersion } from './scratch-database.js';
import { METRICS_TOKEN, serviceCommand, serviceEnv, startFlags } from './service-env.js';
import { soak } from './soak.js';
import { judgeScale, judgeSmall, type WorkerRun } from './targets.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    workers: { type: 'string', default: '1,2' },
    scale: { type: 'boolean', default: false },
    users: { type: 'string', default: '1000000' },
    tenants: { type: 'string', default: '10000' },
    soak: { type: 'string', default: '0' },
    out: { type: 'string', default: 'bench/RESULTS.md' },
    only: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'idle-states': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);
const WORKERS = (args.workers ?? '1').split(',').map(Number);
const WARMUP = 2;
const FLOOD_CONNECTIONS = 16;
async function prepare(name: string, keep: boolean): Promise<Where & { cleanup(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
  const serverUrl = process.env.DATABASE_URL;
  const databaseUrl = serverUrl ? await ensureDatabase(serverUrl, name, { fresh: !keep }) : undefined;
  const env = { ...serviceEnv(), DATA_DIR: dataDir, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
  return {
    databaseUrl,
    dataDir,
    env,
    async cleanup() {
      if (serverUrl && !keep) await dropDatabase(serverUrl, name);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function startTessera(where: Where, workers: number, cores: string | undefined): Promise<Server> {
  const port = await freePort();
  return startServer({
    command: serviceCommand(profileArgs()),
    env: { ...where.env, WEB_CONCURRENCY: String(workers), PUBLIC_URL: `http://127.0.0.1:${port}` },
    cores,
    port,
    readyPath: '/health/ready',
    workers,
  });
}

function profileArgs(): string[] {
  const dir = args['cpu-prof'];
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : [];
}

async function startBare(workers: number, cores: string | undefined): Promise<Server> {
  return startServer({
    command: ['node', ...startFlags(), 'bench/bare-server.mjs'],
    env: { BENCH_WORKERS: String(workers) },
    cores,
    port: await freePort(),
    readyPath: '/',
    workers,
  });
}

async function tokensFor(url: string, f: Fixtures, refreshes: number): Promise<Tokens> {
  const pairs = await Promise.all(Array.from({ length: refreshes + 1 }, () => loginFor(url, f)));
  const [first, ...rest] = pairs;
  return {
    jwt: (first as { accessToken: string }).accessToken,
    refreshTokens: rest.map((p) => p.refreshToken),
  };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function show(name: string, r: LoadResult, bare?: LoadResult): void {
  const ratio = bare ? `  ratio ${(r.rps / bare.rps).toFixed(3)}` : '';
  log(
    `  ${name.padEnd(36)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${ms(r.p50)} ms  p99 ${ms(r.p99)} ms${ratio}${r.failures ? `  failures ${r.failures}` : ''}`,
  );
}

/** The small-data run for one worker count: every scenario, then the flood, then RSS. */
async function runSmall(where: Where, f: Fixtures, workers: number, readsOnly = false): Promise<WorkerRun> {
  const place = placement(workers);
  log(`\n${workers} worker(s): ${place.description}`);
  const all = scenarios(f, { jwt: '', refreshTokens: [] }).filter((s) => !readsOnly || s.read);
  // A name given whole picks that scenario alone, even where it is a part of another's name.
  const exact = all.filter((s) => s.name === args.only);
  const selected = exact.length > 0 ? exact : all.filter((s) => !args.only || s.name.includes(args.only));
  if (selected.length === 0) throw new Error(`No scenario's name contains "${args.only}"`);
  let hashesPerSecond = 0;
  let backendsPinned = 0;
  const pinDatabase = async () => {
    // With a server on every core there is no core to keep it off; they go where the scheduler says.
    if (where.databaseUrl && place.loadCores && place.loadAlone)
      backendsPinned += await pinBackends(where.databaseUrl, place.loadCores);
  };
  // Both servers stay up on the same cores, and the bare one is measured again just before and just
  // after each scenario, its ratio taken to their mean: on a shared virtual machine the whole
  // machine's speed drifts over minutes (the bare server read 31k and 22k req/s a minute apart in
  // one run), and a ratio of figures taken seconds apart is steadier than one against a figure
  // taken first.
  const bareServer = await startBare(workers, place.serverCores);
  const server = await startTessera(where, workers, place.serverCores);
  try {
    const tokens = await tokensFor(server.url, f, CONNECTIONS);
    const results = new Map<string, LoadResult>();
    const bareAround = new Map<string, LoadResult>();
    const driveBare = () =>
      drive({
        url: bareServer.url,
        request: { path: '/' },
        connections: CONNECTIONS,
        seconds: SECONDS,
        warmup: WARMUP,
      });
    for (const scenario of scenarios(f, tokens)) {
      if (!selected.some((s) => s.name === scenario.name)) continue;
      const bareBefore = await driveBare();
      const load = {
        url: server.url,
        request: scenario.request,
        connections: CONNECTIONS,
        seconds: SECONDS,
        warmup: scenario.warmup ?? WARMUP,
        beforeMeasure: pinDatabase,
      };
      let result: LoadResult;
      if (scenario.name === LOGIN) {
        ({ result, hashesPerSecond } = await loginsAndHashRate(load, place.serverCores));
      } else {
        result = await drive(load);
      }
      const bareAfter = await driveBare();
      const bare = { ...bareBefore, rps: (bareBefore.rps + bareAfter.rps) / 2 };
      bareAround.set(scenario.name, bare);
      results.set(scenario.name, result);
      show('bare Fastify (mean of before and after)', bare);
      show(scenario.name, result, bare);
    }
    const flood =
      readsOnly || args.only ? undefined : await runFlood(server, f, tokens, results, pinDatabase);
    const rss = server
      .servingPids()
      .map(rssMb)
      .filter((mb): mb is number => mb !== undefined);
    const database = !where.databaseUrl
      ? ''
      : backendsPinned > 0
        ? `; PostgreSQL's backends for the service moved to core ${place.loadCores} (with the load generator), off the server's core`
        : place.loadAlone
          ? "; PostgreSQL not pinned (not on this machine, or taskset refused): it may share the server's core"
          : '; PostgreSQL not pinned';
    const bares = [...bareAround.values()].sort((a, b) => a.rps - b.rps);
    return {
      workers,
      placement: place.description + database,
      bare: bares[Math.floor(bares.length / 2)] as LoadResult,
      bareAround,
      results,
      hashesPerSecond,
      flood,
      rssMb: rss,
    };
  } finally {
    await Promise.all([server.stop(), bareServer.stop()]);
  }
}

/** JWT reads at the same connections as their idle scenario, with a login flood alongside. */
async function runFlood(
  server: Server,
  f: Fixtures,
  tokens: Tokens,
  results: Map<string, LoadResult>,
  pinDatabase: () => Promise<void>,
) {
  const idle = results.get('GET /v1/users/me (JWT)') as LoadResult;
  const read = scenarios(f, tokens)[0] as Scenario;
  const workers = server.servingPids().length;
  await eventLoopLagP99(server.url, METRICS_TOKEN, workers);
  await pinDatabase();
  const floodLogin = drive({
    url: server.url,
    request: { method: 'POST', path: '/v1/auth/login', body: { email: f.email, password: f.password } },
    connections: FLOOD_CONNECTIONS,
    seconds: SECONDS + WARMUP + 1,
  });
  // The reads start once the flood has filled the hashing queue.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const reads = await drive({
    url: server.url,
    request: read.request,
    connections: CONNECTIONS,
    seconds: SECONDS,
    warmup: WARMUP,
    beforeMeasure: pinDatabase,
  });
  const lagP99 = await eventLoopLagP99(server.url, METRICS_TOKEN, workers);
  const login = await floodLogin;
  log(
    `  login flood: reads p99 ${ms(reads.p99)} ms (idle ${ms(idle.p99)} ms), ${reads.rps.toFixed(0)} req/s, lag p99 ${lagP99.toFixed(1)} ms, logins ${login.rps.toFixed(1)}/s`,
  );
  return { idleP99: idle.p99, floodP99: reads.p99, lagP99, loginRps: login.rps };
}

async function main(): Promise<void> {
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, Node ${process.version}`;
  log(`Machine: ${machine}`);
  const idle = args['idle-states']
    ? 'CPU idle states as the machine has them (--idle-states)'
    : holdCpusAwake();
  log(idle);
  const small = await prepare('tessera_bench', false);
  const database = small.databaseUrl ? await serverVersion(small.databaseUrl) : 'embedded (PGlite)';
  log(`Database: ${database}\nSeeding the small data set...`);
  const fixtures = await makeFixtures(small);
  pinSelf(placement(1).loadCores);

  if (Number(args.soak) > 0) {
    const server = await startTessera(small, WORKERS[0] ?? 1, placement(WORKERS[0] ?? 1).serverCores);
    try {
      const tokens = await tokensFor(server.url, fixtures, 4);
      const report = await soak(server, fixtures, tokens, Number(args.soak), log);
      writeFileSync(args.out ?? 'bench/RESULTS.md', report);
    } finally {
      await server.stop();
      await small.cleanup();
    }
    return;
  }

  const sections: Section[] = [];
  const smallRuns = new Map<number, WorkerRun>();
  try {
    for (const workers of WORKERS) {
      const run = await runSmall(small, fixtures, workers);
      smallRuns.set(workers, run);
      sections.push({
        title: `Small data, ${workers} worker${workers > 1 ? 's' : ''}`,
        run,
        verdicts: judgeSmall(run, small.databaseUrl !== undefined),
      });
    }
  } finally {
    await small.cleanup();
  }

  if (args.scale) {
    const scale = await prepare('tessera_bench_scale', true);
    try {
      log(`\nSeeding the scale data set (kept between runs)...`);
      const scaleFixtures = await makeFixtures(scale, {
        users: Number(args.users),
        tenants: Number(args.tenants),
      });
      for (const workers of WORKERS) {
        const run = await runSmall(scale, scaleFixtures, workers, true);
        sections.push({
          title: `Scale data (${args.users} users, ${args.tenants} tenants, one tenant of ${args.users} members), ${workers} worker${workers > 1 ? 's' : ''}`,
          run,
          verdicts: judgeScale(smallRuns.get(workers) as WorkerRun, run),
        });
      }
    } finally {
      await scale.cleanup();
    }
  }

  const header = [
    `Run on ${new Date().toISOString().slice(0, 10)}: ${machine}; database ${database}. ${idle}.`,
    `Each scenario ran ${SECONDS} s after a ${WARMUP} s warm-up (logins ${LOGIN_WARMUP} s, refreshes none) with ${CONNECTIONS} connections (autocannon, in the benchmark process); the login flood used ${FLOOD_CONNECTIONS} more. Logins were measured in ${LOGIN_ROUNDS} rounds of ${loginRoundSeconds(SECONDS)} s, the Argon2id hash rate on the server's cores (servers idle) before, between and after them: its mean.`,
    'Throughput counts 2xx answers only. The per-address and per-account sign-in limits are off (AUTH_RATE_LIMIT_PER_MINUTE=0, LOGIN_MAX_FAILURES=0) so one account can sign in this often from one address; everything else is the production configuration (NODE_ENV=production, LOG_LEVEL=info, logs written to /dev/null).',
    `Reproduce: \`${process.env.DATABASE_URL ? 'DATABASE_URL=<server> ' : ''}npm run bench -- ${process.argv.slice(2).join(' ')}\`.`,
  ];
  const report = renderReport(header, sections);
  writeFileSync(args.out ?? 'bench/RESULTS.md', report);
  process.stdout.write(`\n${report}\n`);
}

await main();
process.exit(0);
