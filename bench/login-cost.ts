/**
 * Where a sign-in's CPU goes, for work on the login target (logins >= 0.8 x the hash rate of the
 * same cores). The service is placed as `npm run bench` places it: one worker on core 0, with the
 * load generator (this process) and PostgreSQL's backends on core 1; or, with `--workers 2`, two
 * workers on cores 0-1, sharing core 1 with the load generator. It signs one account in from 32
 * connections. After a warm-up, rounds of logins alternate with the hash rate of the server's cores
 * (bench/login-share.ts, as `npm run bench` measures them), and each round reads every thread's CPU
 * time from /proc. Prints, per sign-in: the workers' event loops, their hashing threads and their
 * other threads (compiler, GC), PostgreSQL (every process of the server, its WAL writer too) and
 * the load generator, next to one hash alone:
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/login-cost.ts
 *
 * Options: --workers N (1), --warmup S (60), --rounds N (3), --seconds S per round (5), --node-args
 * "…" (Node flags for the service after those of `npm start`, such as --cpu-prof). Linux with
 * taskset only.
 *
 * `--cheap-hash` stores the account's password at the lowest Argon2id cost (8 KiB, one pass), so a
 * verification takes microseconds and the event loop has the core to itself: its figure then is
 * the sign-in's own work, which, set against the figure with the real hash, tells how much of the
 * loop's time the hash's sharing of the core adds (caches, switches). The login share it prints
 * means nothing then; the hash rate is still the real one's.
 */
import { parseArgs } from 'node:util';
import { PasswordHasher } from '../src/modules/auth/passwords.js';
import { loginsAndHashRate } from './login-share.js';
import { startProbe } from './probe.js';
import { postgresCpu, threadCpu } from './proc-cpu.js';
import { login } from './scenarios.js';
import { admin } from './scratch-database.js';

const { values } = parseArgs({
  options: {
    warmup: { type: 'string', default: '60' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    'node-args': { type: 'string', default: '' },
    'cheap-hash': { type: 'boolean', default: false },
    workers: { type: 'string', default: '1' },
  },
});
const nodeArgs = values['node-args'].split(' ').filter(Boolean);
const workers = Number(values.workers);
if (!Number.isInteger(workers) || workers < 1)
  throw new Error(`--workers must be a whole number, not ${values.workers}`);
const { fixtures, server, databaseUrl, place, pids, pinDatabase, stop } = await startProbe(
  'tessera_login_cost',
  nodeArgs,
  workers,
);
if (values['cheap-hash']) {
  // A verification reads the cost from the stored hash.
  const hasher = new PasswordHasher({ memoryCost: 8, timeCost: 1, parallelism: 1 }, 1);
  const cheap = await hasher.hash(fixtures.password);
  await hasher.close();
  await admin(
    databaseUrl,
    (sql) => sql`update users set password_hash = ${cheap} where email = ${fixtures.email}`,
  );
}

const spent = { loop: 0, hashing: 0, otherThreads: 0, postgres: 0, loadGenerator: 0 };
let before = { threads: pids.map(() => new Map<string, number>()), postgres: 0, self: process.cpuUsage() };
try {
  const { result, hashesPerSecond } = await loginsAndHashRate(
    {
      url: server.url,
      request: login(fixtures),
      connections: 32,
      seconds: Number(values.seconds),
      warmup: Number(values.warmup),
      // Runs just before each round's count starts: the CPU read now is the round's baseline.
      beforeMeasure: async () => {
        await pinDatabase();
        before = { threads: pids.map(threadCpu), postgres: postgresCpu(), self: process.cpuUsage() };
      },
    },
    place.serverCores,
    {
      count: Number(values.rounds),
      seconds: Number(values.seconds),
      after(round) {
        const self = process.cpuUsage(before.self);
        spent.loadGenerator += (self.user + self.system) / 1000;
        spent.postgres += postgresCpu() - before.postgres;
        pids.forEach((pid, i) => {
          const used = [...threadCpu(pid)].map(
            ([tid, ms]) => [tid, ms - (before.threads[i]?.get(tid) ?? 0)] as const,
          );
          // The hashing thread is the busiest thread but the event loop (the process's own id).
          const others = used.filter(([tid]) => tid !== String(pid)).sort((a, b) => b[1] - a[1]);
          spent.loop += used.find(([tid]) => tid === String(pid))?.[1] ?? 0;
          spent.hashing += others[0]?.[1] ?? 0;
          spent.otherThreads += others.slice(1).reduce((sum, [, ms]) => sum + ms, 0);
        });
        console.log(`round: ${round.rps.toFixed(1)} logins/s`);
      },
    },
  );
  const logins = result.rps * result.seconds;
  const per = (ms: number) => (ms / logins).toFixed(2);
  console.log(
    `\nlogins ${result.rps.toFixed(1)}/s, hash rate ${hashesPerSecond.toFixed(1)}/s: login share ${(result.rps / hashesPerSecond).toFixed(3)}`,
  );
  // The hash rate is of every server core at once, one hashing thread each.
  const cores = place.serverCoreCount;
  console.log(
    `one hash alone: ${((cores * 1000) / hashesPerSecond).toFixed(2)} ms of a core (${cores > 1 ? 'cores' : 'core'} ${place.serverCores})`,
  );
  console.log(`per sign-in, ms of CPU (${place.description}):`);
  console.log(`  event loop${workers > 1 ? 's' : ' '}         ${per(spent.loop)}`);
  console.log(`  hashing thread${workers > 1 ? 's' : ' '}     ${per(spent.hashing)}`);
  console.log(`  other threads       ${per(spent.otherThreads)}`);
  console.log(
    `  PostgreSQL          ${per(spent.postgres)}${place.loadAlone ? `   (core ${place.loadCores})` : ''}`,
  );
  console.log(`  load generator      ${per(spent.loadGenerator)}   (core ${place.loadCores})`);
} finally {
  await stop();
}
process.exit(0);
