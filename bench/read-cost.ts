/**
 * Where a read scenario's CPU goes, per request, for work on the read targets. One worker on
 * core 0; the load generator (this process) and PostgreSQL's backends get core 1. After a warm-up,
 * each round drives the scenario from 32 connections and reads the CPU time of the service (its
 * event loop, and all its threads), of PostgreSQL and of the load generator from /proc:
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/read-cost.ts
 *
 * Options: --scenario NAME (a read of bench/scenarios.ts; the first members page by default),
 * --rounds N (2), --seconds S per round (10), --node-args "…" (Node flags after those of
 * `npm start`, to compare V8 settings: the later of two flags wins). Linux with taskset only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeFixtures } from './fixtures.js';
import { drive } from './load.js';
import { postgresCpu, processCpu, threadCpu } from './proc-cpu.js';
import { freePort, pinSelf, startServer } from './processes.js';
import { scenarios } from './scenarios.js';
import { dropDatabase, ensureDatabase, pinBackends } from './scratch-database.js';
import { serviceCommand, serviceEnv } from './service-env.js';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'members page of 20 (first)' },
    rounds: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '10' },
    'node-args': { type: 'string', default: '' },
  },
});
const serverUrl = process.env.DATABASE_URL;
if (!serverUrl) throw new Error('Set DATABASE_URL to a PostgreSQL server on this machine');
const [SERVER_CORE, LOAD_CORE] = ['0', '1'];
const DATABASE = 'tessera_read_cost';
const command = serviceCommand(values['node-args'].split(' ').filter(Boolean));

const databaseUrl = await ensureDatabase(serverUrl, DATABASE, { fresh: true });
const dataDir = mkdtempSync(join(tmpdir(), 'tessera-read-cost-'));
const env = { ...serviceEnv(), DATA_DIR: dataDir, DATABASE_URL: databaseUrl };
const fixtures = await makeFixtures({ databaseUrl, dataDir, env });
pinSelf(LOAD_CORE);
const port = await freePort();
const server = await startServer({
  command,
  env: { ...env, WEB_CONCURRENCY: '1', PUBLIC_URL: `http://127.0.0.1:${port}` },
  cores: SERVER_CORE,
  port,
  readyPath: '/health/ready',
  workers: 1,
});
const pid = server.child.pid as number;

try {
  const response = await fetch(`${server.url}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: fixtures.email, password: fixtures.password }),
  });
  if (!response.ok) throw new Error(`login failed: ${response.status}`);
  const { accessToken } = (await response.json()) as { accessToken: string };
  const scenario = scenarios(fixtures, { jwt: accessToken, refreshTokens: [] }).find(
    (s) => s.read && s.name === values.scenario,
  );
  if (!scenario) throw new Error(`No read scenario is named ${values.scenario}`);
  console.log(`${scenario.name}; the service runs as: ${command.join(' ')}`);
  for (let i = 0; i < Number(values.rounds); i++) {
    let before = { loop: 0, service: 0, postgres: 0, self: process.cpuUsage() };
    const result = await drive({
      url: server.url,
      request: scenario.request,
      connections: 32,
      seconds: Number(values.seconds),
      warmup: 5,
      beforeMeasure: async () => {
        await pinBackends(databaseUrl, LOAD_CORE);
        const loop = threadCpu(pid).get(String(pid)) ?? 0;
        before = { loop, service: processCpu(pid), postgres: postgresCpu(), self: process.cpuUsage() };
      },
    });
    const self = process.cpuUsage(before.self);
    const requests = result.rps * result.seconds;
    const per = (ms: number) => ((ms * 1000) / requests).toFixed(0).padStart(4);
    const loop = (threadCpu(pid).get(String(pid)) ?? 0) - before.loop;
    console.log(
      `round ${i + 1}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50} ms, failures ${result.failures}; µs of CPU per request: ` +
        `service ${per(processCpu(pid) - before.service)} (event loop ${per(loop)}), ` +
        `PostgreSQL ${per(postgresCpu() - before.postgres)}, load generator ${per((self.user + self.system) / 1000)}`,
    );
  }
} finally {
  await server.stop();
  await dropDatabase(serverUrl, DATABASE);
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(0);
