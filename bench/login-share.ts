/**
 * Sign-in throughput against the Argon2id hash rate of the same cores (issue 7: logins >= 0.8 x
 * that rate). On a shared virtual machine the speed drifts within minutes (one core's hash rate read
 * 60/s and 85/s a minute apart), both figures with it, so they are taken in turns: the hash rate
 * with the servers idle, then a round of logins, and so on, ending with the hash rate. Linear drift
 * then weighs on both alike.
 */
import { execFileSync } from 'node:child_process';
import { drive, type LoadOptions, type LoadResult } from './load.js';

/** Rounds of logins, each between two hash-rate measurements, and each half a scenario long. */
export const LOGIN_ROUNDS = 3;
export const loginRoundSeconds = (scenarioSeconds: number) => Math.max(1, Math.round(scenarioSeconds / 2));
const HASH_SECONDS = 4;

/** Hashes a second on `cores` (bench/hash-rate.ts in a process of its own, pinned there). */
export function hashRate(cores: string | undefined): number {
  const command = ['node', '--import', 'tsx', 'bench/hash-rate.ts', '--seconds', String(HASH_SECONDS)];
  const [file, ...rest] = cores ? ['taskset', '-c', cores, ...command] : command;
  const out = execFileSync(file as string, rest, { encoding: 'utf8' });
  return (JSON.parse(out.trim().split('\n').pop() as string) as { hashesPerSecond: number }).hashesPerSecond;
}

/** How the logins are split; `after` sees each round's result as it ends. */
export interface Rounds {
  count: number;
  seconds: number;
  after?: (round: LoadResult) => void;
}

/**
 * The logins of `options` after its warm-up, measured in rounds (LOGIN_ROUNDS of half its seconds
 * unless given), and the mean hash rate around them. The result's rate is over all rounds, its p50
 * their mean and its p99 their largest.
 */
export async function loginsAndHashRate(
  options: LoadOptions,
  cores: string | undefined,
  rounds: Rounds = { count: LOGIN_ROUNDS, seconds: loginRoundSeconds(options.seconds) },
): Promise<{ result: LoadResult; hashesPerSecond: number }> {
  if (options.warmup) await drive({ ...options, seconds: options.warmup, warmup: 0 });
  const hashes = [hashRate(cores)];
  const results: LoadResult[] = [];
  for (let i = 0; i < rounds.count; i++) {
    // A second of logins first, so the hashing queue is full again when the round's count starts.
    const round = await drive({ ...options, seconds: rounds.seconds, warmup: 1 });
    rounds.after?.(round);
    results.push(round);
    hashes.push(hashRate(cores));
  }
  const total = results.reduce((sum, r) => sum + r.rps * r.seconds, 0);
  const time = results.reduce((sum, r) => sum + r.seconds, 0);
  return {
    result: {
      rps: total / time,
      p50: Math.round(results.reduce((sum, r) => sum + r.p50, 0) / results.length),
      p99: Math.max(...results.map((r) => r.p99)),
      failures: results.reduce((sum, r) => sum + r.failures, 0),
      seconds: time,
    },
    hashesPerSecond: hashes.reduce((sum, h) => sum + h, 0) / hashes.length,
  };
}
