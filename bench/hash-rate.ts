/**
 * The Argon2id hash rate of the cores this process may run on, through the service's own
 * PasswordHasher (worker pool at nice 19) at the OWASP cost and the pool size it gets here: every
 * slot kept busy for `--seconds` (5 by default) after a warm-up. Prints one JSON line,
 * `{"hashesPerSecond": n, "poolSize": k}`. Issue 7 compares login throughput under a flood with it:
 *
 *   taskset -c 0 npx tsx bench/hash-rate.ts --seconds 5
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { OWASP_ARGON2, PasswordHasher } from '../src/modules/auth/passwords.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' } } });
const seconds = Number(values.seconds);
if (!(seconds > 0)) throw new Error(`--seconds must be a positive number, not ${values.seconds}`);

const hasher = new PasswordHasher(OWASP_ARGON2);
const poolSize = hasher.poolSize;
const password = 'hash-rate-password-1';

/** Keeps one more job than there are workers in flight, so no worker waits for the next job. */
async function saturate(until: number, counted: { n: number }): Promise<void> {
  const lane = async () => {
    while (performance.now() < until) {
      await hasher.hash(password);
      if (performance.now() <= until) counted.n++;
    }
  };
  await Promise.all(Array.from({ length: poolSize + 1 }, lane));
}

// Warm-up: start every worker and let the CPU settle, for a second or a fifth of the run.
await saturate(performance.now() + Math.min(1_000, seconds * 200), { n: 0 });
const counted = { n: 0 };
const started = performance.now();
const until = started + seconds * 1_000;
await saturate(until, counted);
const hashesPerSecond = Math.round((counted.n / ((until - started) / 1_000)) * 10) / 10;
console.log(JSON.stringify({ hashesPerSecond, poolSize }));
await hasher.close();
