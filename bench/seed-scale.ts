/**
 * Fills a database for scale tests: `npm run seed:scale -- --users 1000000 --tenants 10000`.
 * The database is the service's own: DATABASE_URL, else the embedded one in DATA_DIR (fast only on
 * a PostgreSQL server). It is migrated first. Progress goes to stderr, the totals to stdout.
 * What is written, and how: bench/seed.ts (seedScale).
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadConfig, readEnv } from '../src/config.js';
import { openMigratedDatabase } from '../src/server.js';
import { BIG_TENANT_SLUG, SEED_PASSWORD, scaleUserEmail, seededTotals, seedScale } from './seed.js';

const USAGE = 'Usage: npm run seed:scale -- [--users N] [--tenants N]   (defaults 1000000 and 10000)';

function count(name: string, raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) {
    console.error(`--${name} must be a whole number of at least 1 (got "${raw}")\n${USAGE}`);
    process.exit(2);
  }
  return Number(raw);
}

let args: { users: string; tenants: string; help?: boolean };
try {
  ({ values: args } = parseArgs({
    options: {
      users: { type: 'string', default: '1000000' },
      tenants: { type: 'string', default: '10000' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (error) {
  console.error(`${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const users = count('users', args.users);
const tenants = count('tenants', args.tenants);

/**
 * One line redrawn in place on a terminal; on a pipe or in a log, a plain line per stage start
 * and end and at most one every 5 s between, so CI logs stay readable.
 */
function progressBar(stream: NodeJS.WriteStream) {
  const tty = stream.isTTY === true;
  let lastStage = '';
  let lastLine = 0;
  return (stage: string, done: number, total: number) => {
    const fraction = total === 0 ? 1 : done / total;
    const width = 30;
    const filled = Math.round(fraction * width);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
    const line = `${stage.padEnd(14)} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${done.toLocaleString('en')}/${total.toLocaleString('en')}`;
    if (tty) {
      stream.write(`\r${line}\x1b[K${done === total ? '\n' : ''}`);
      return;
    }
    const now = performance.now();
    if (stage !== lastStage || done === total || now - lastLine > 5000) {
      stream.write(`${line}\n`);
      lastStage = stage;
      lastLine = now;
    }
  };
}

const env = readEnv();
// Seeding signs nothing: a stand-in key keeps loadConfig from writing DATA_DIR/secret-key.
const config = loadConfig({
  ...env,
  SECRET_KEY: env.SECRET_KEY ?? 'seed-scale-signs-nothing-0123456789abcdef',
});
const database = await openMigratedDatabase(config);
const where = config.databaseUrl ? 'the PostgreSQL server' : `the embedded database in ${config.dataDir}`;
console.error(
  `Seeding ${users.toLocaleString('en')} users and ${tenants.toLocaleString('en')} tenants into ${where}`,
);
const start = performance.now();
try {
  const { bigTenantId, created } = await seedScale(database, {
    users,
    tenants,
    onProgress: progressBar(process.stderr),
  });
  const seconds = ((performance.now() - start) / 1000).toFixed(1);
  console.log(created ? `Seeded in ${seconds} s.` : 'Already seeded: nothing to do.');
  console.log(`Tenant ${BIG_TENANT_SLUG}: ${bigTenantId}`);
  console.log(
    `Sign in as ${scaleUserEmail(1)} (its owner) … ${scaleUserEmail(users)}, password ${SEED_PASSWORD}`,
  );
  for (const [table, rows] of Object.entries(await seededTotals(database))) {
    console.log(`  ${table.padEnd(13)} ${rows.toLocaleString('en').padStart(12)} rows`);
  }
} catch (error) {
  console.error(`\n${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await database.close();
}
