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
import { parseArgs } from 'node:util';
import { loginFor } from './fixtures.js';
import { drive, ms } from './load.js';
import { startProbe } from './probe.js';
import { postgresCpu, processCpu, threadCpu } from './proc-cpu.js';
import { scenarios } from './scenarios.js';
import { serviceCommand } from './service-env.js';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'members page of 20 (first)' },
    rounds: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '10' },
    'node-args': { type: 'string', default: '' },
  },
});
const nodeArgs = values['node-args'].split(' ').filter(Boolean);
const { fixtures, server, pids, pinDatabase, stop } = await startProbe('tessera_read_cost', nodeArgs);
const [pid] = pids as [number];

try {
  const { accessToken } = await loginFor(server.url, fixtures);
  const scenario = scenarios(fixtures, { jwt: accessToken, refreshTokens: [] }).find(
    (s) => s.read && s.name === values.scenario,
  );
  if (!scenario) throw new Error(`No read scenario is named ${values.scenario}`);
  console.log(`${scenario.name}; the service runs as: ${serviceCommand(nodeArgs).join(' ')}`);
  for (let i = 0; i < Number(values.rounds); i++) {
    let before = { loop: 0, service: 0, postgres: 0, self: process.cpuUsage() };
    const result = await drive({
      url: server.url,
      request: scenario.request,
      connections: 32,
      seconds: Number(values.seconds),
      warmup: 5,
      beforeMeasure: async () => {
        await pinDatabase();
        const loop = threadCpu(pid).get(String(pid)) ?? 0;
        before = { loop, service: processCpu(pid), postgres: postgresCpu(), self: process.cpuUsage() };
      },
    });
    const self = process.cpuUsage(before.self);
    const requests = result.rps * result.seconds;
    const per = (ms: number) => ((ms * 1000) / requests).toFixed(0).padStart(4);
    const loop = (threadCpu(pid).get(String(pid)) ?? 0) - before.loop;
    console.log(
      `round ${i + 1}: ${result.rps.toFixed(0)} req/s, p50 ${ms(result.p50)} ms, failures ${result.failures}; µs of CPU per request: ` +
        `service ${per(processCpu(pid) - before.service)} (event loop ${per(loop)}), ` +
        `PostgreSQL ${per(postgresCpu() - before.postgres)}, load generator ${per((self.user + self.system) / 1000)}`,
    );
  }
} finally {
  await stop();
}
process.exit(0);
