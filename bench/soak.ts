/**
 * `--soak N`: the mixed scenario (every read, with logins and refreshes alongside) for N seconds,
 * sampling each worker's RSS every 30 s, to show memory levels off instead of growing.
 */
import type { Fixtures } from './fixtures.js';
import { drive } from './load.js';
import { rssMb, type Server } from './processes.js';
import { login, scenarios, type Tokens } from './scenarios.js';

const SAMPLE_EVERY_MS = 30_000;

export async function soak(
  server: Server,
  f: Fixtures,
  tokens: Tokens,
  seconds: number,
  log: (line: string) => void,
): Promise<string> {
  const all = scenarios(f, tokens);
  const reads = all.filter((s) => s.read);
  const refresh = all.find((s) => s.name.includes('refresh'));
  const samples: Array<{ at: number; rss: number[] }> = [];
  const sample = () => {
    const rss = server.servingPids().map((pid) => rssMb(pid) ?? 0);
    samples.push({ at: Math.round((Date.now() - started) / 1000), rss });
    log(`  ${samples.at(-1)?.at ?? 0} s: RSS ${rss.map((mb) => mb.toFixed(0)).join(', ')} MB`);
  };
  const started = Date.now();
  sample();
  const timer = setInterval(sample, SAMPLE_EVERY_MS);
  // Each read scenario gets its own connections; together 24, plus 4 refreshing and 2 logging in.
  const load = [
    ...reads.map((s) => drive({ url: server.url, request: s.request, connections: 4, seconds })),
    drive({ url: server.url, request: login(f), connections: 2, seconds }),
    ...(refresh ? [drive({ url: server.url, request: refresh.request, connections: 4, seconds })] : []),
  ];
  const results = await Promise.all(load);
  clearInterval(timer);
  sample();
  const requests = results.reduce((sum, r) => sum + r.rps * r.seconds, 0);
  const failures = results.reduce((sum, r) => sum + r.failures, 0);
  const rows = samples.map((s) => `| ${s.at} | ${s.rss.map((mb) => mb.toFixed(0)).join(' / ')} |`);
  // Growth shows as a later third that sits above the first; garbage collection makes single
  // samples swing, so compare the means.
  const third = Math.max(1, Math.floor(samples.length / 3));
  const mean = (part: typeof samples) => part.reduce((sum, s) => sum + Math.max(...s.rss), 0) / part.length;
  const everyRss = samples.flatMap((s) => s.rss);
  return [
    '# Soak: RSS under the mixed scenario',
    '',
    `${seconds} s of every read scenario, logins and refreshes at once: ${Math.round(requests)} successful requests, ${failures} failures.`,
    '',
    `RSS ranged from ${Math.min(...everyRss).toFixed(0)} to ${Math.max(...everyRss).toFixed(0)} MB; the mean of the largest worker was ${mean(samples.slice(0, third)).toFixed(0)} MB over the first third of the samples and ${mean(samples.slice(-third)).toFixed(0)} MB over the last.`,
    '',
    '| seconds | RSS MB per worker |',
    '|---:|---|',
    ...rows,
    '',
  ].join('\n');
}
