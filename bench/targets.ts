/**
 * The targets of the performance work, each judged against figures of the same run: throughput as
 * a ratio to the bare Fastify server, login against the Argon2id hash rate of the same cores, and
 * the scale figures against the small-data ones.
 */
import { type LoadResult, ms } from './load.js';
import { LOGIN } from './scenarios.js';

export interface WorkerRun {
  workers: number;
  placement: string;
  /** The median of the bare server's runs. */
  bare: LoadResult;
  /** The bare server around each scenario (mean of its runs just before and after), its ratio's base. */
  bareAround: Map<string, LoadResult>;
  results: Map<string, LoadResult>;
  hashesPerSecond: number;
  flood: { idleP99: number; floodP99: number; lagP99: number; loginRps: number } | undefined;
  rssMb: number[];
}

export interface Verdict {
  what: string;
  figure: string;
  target: string;
  met: boolean;
}

/** Ratio targets for the small-data scenarios (issue 7). */
export const RATIO_TARGETS: Record<string, number> = {
  'GET /v1/users/me (JWT)': 0.35,
  'GET /v1/auth/principal (API key)': 0.3,
  'POST /v1/authz/check': 0.3,
  'members page of 20 (first)': 0.1,
  'POST /v1/auth/refresh': 0.03,
};

export const LOGIN_OF_HASH_RATE = 0.8;
export const FLOOD_P99_FACTOR = 2;
export const LAG_P99_MS = 50;
export const RSS_MB = 300;
export const SCALE_OF_SMALL = 0.8;
export const LAST_PAGE_P50_FACTOR = 1.5;

/** A scenario's throughput over the bare server's, measured just before and after it. */
export function ratioOf(run: WorkerRun, name: string): number | undefined {
  const result = run.results.get(name);
  const bare = run.bareAround.get(name) ?? run.bare;
  return result ? result.rps / bare.rps : undefined;
}

export function judgeSmall(run: WorkerRun, serverDatabase: boolean): Verdict[] {
  const verdicts: Verdict[] = [];
  for (const [name, target] of Object.entries(RATIO_TARGETS)) {
    const ratio = ratioOf(run, name);
    if (ratio === undefined) continue;
    const members = name.startsWith('members');
    verdicts.push({
      what: `${name}${members && !serverDatabase ? ' (embedded database: target is for a server)' : ''}`,
      figure: ratio.toFixed(3),
      target: `>= ${target}`,
      met: ratio >= target,
    });
  }
  const login = run.results.get(LOGIN);
  if (login) {
    const share = login.rps / run.hashesPerSecond;
    verdicts.push({
      what: `login vs Argon2id hash rate (${run.hashesPerSecond.toFixed(1)}/s)`,
      figure: share.toFixed(2),
      target: `>= ${LOGIN_OF_HASH_RATE}`,
      met: share >= LOGIN_OF_HASH_RATE,
    });
  }
  if (run.flood) {
    const factor = run.flood.floodP99 / run.flood.idleP99;
    verdicts.push({
      what: `JWT read p99 under a login flood (idle ${ms(run.flood.idleP99)} ms, flood ${ms(run.flood.floodP99)} ms)`,
      figure: `${factor.toFixed(2)}x`,
      target: `<= ${FLOOD_P99_FACTOR}x`,
      met: factor <= FLOOD_P99_FACTOR,
    });
    verdicts.push({
      what: 'event-loop lag p99 under the login flood',
      figure: `${run.flood.lagP99.toFixed(1)} ms`,
      target: `< ${LAG_P99_MS} ms`,
      met: run.flood.lagP99 < LAG_P99_MS,
    });
  }
  if (run.rssMb.length > 0) {
    const worst = Math.max(...run.rssMb);
    verdicts.push({
      what: 'RSS per worker after the benchmark',
      figure: `${run.rssMb.map((mb) => mb.toFixed(0)).join(', ')} MB`,
      target: `< ${RSS_MB} MB`,
      met: worst < RSS_MB,
    });
  }
  return verdicts;
}

/**
 * The scale runs come minutes after the small ones, when a shared machine may run at another speed
 * (the bare server read 24,000 and 40,000 req/s twenty minutes apart in one run): each scenario is
 * compared by its ratio to the bare server around it, not by its raw rate.
 */
export function judgeScale(small: WorkerRun, scale: WorkerRun): Verdict[] {
  const verdicts: Verdict[] = [];
  for (const name of ['GET /v1/users/me (JWT)', 'POST /v1/authz/check']) {
    const before = ratioOf(small, name);
    const after = ratioOf(scale, name);
    if (before === undefined || after === undefined) continue;
    const share = after / before;
    verdicts.push({
      what: `${name} on the scale data vs small data (ratios to bare)`,
      figure: share.toFixed(2),
      target: `>= ${SCALE_OF_SMALL}`,
      met: share >= SCALE_OF_SMALL,
    });
  }
  const first = scale.results.get('members page of 20 (first)');
  const last = scale.results.get('members page of 20 (last)');
  if (first && last) {
    const factor = last.p50 / Math.max(first.p50, 0.001);
    verdicts.push({
      what: `last members page p50 vs first (${ms(first.p50)} ms → ${ms(last.p50)} ms)`,
      figure: `${factor.toFixed(2)}x`,
      target: `<= ${LAST_PAGE_P50_FACTOR}x`,
      met: factor <= LAST_PAGE_P50_FACTOR,
    });
  }
  return verdicts;
}
