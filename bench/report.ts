/** Renders a run as Markdown: one table of figures per worker count and data size, then verdicts. */
import { type LoadResult, ms } from './load.js';
import type { Verdict, WorkerRun } from './targets.js';

export interface Section {
  title: string;
  run: WorkerRun;
  verdicts: Verdict[];
}

export function figuresTable(run: WorkerRun): string {
  const rows = [
    '| scenario | req/s | p50 ms | p99 ms | bare req/s around it | ratio to bare | failures |',
    '|---|---:|---:|---:|---:|---:|---:|',
    row('bare Fastify hello world (median of its runs)', run.bare, run.bare),
    ...[...run.results].map(([name, result]) => row(name, result, run.bareAround.get(name) ?? run.bare)),
  ];
  if (run.flood) {
    rows.push(
      `| JWT read during a login flood | | | ${run.flood.floodP99} | | | |`,
      `| login during that flood | ${run.flood.loginRps.toFixed(0)} | | | | | |`,
    );
  }
  return rows.join('\n');
}

function row(name: string, r: LoadResult, bare: LoadResult): string {
  return `| ${name} | ${r.rps.toFixed(0)} | ${ms(r.p50)} | ${ms(r.p99)} | ${bare.rps.toFixed(0)} | ${(r.rps / bare.rps).toFixed(3)} | ${r.failures} |`;
}

export function verdictTable(verdicts: Verdict[]): string {
  return [
    '| target | figure | wanted | met |',
    '|---|---:|---:|:---:|',
    ...verdicts.map((v) => `| ${v.what} | ${v.figure} | ${v.target} | ${v.met ? 'yes' : '**NO**'} |`),
  ].join('\n');
}

export function renderSection(section: Section): string {
  return [
    `### ${section.title}`,
    '',
    `Placement: ${section.run.placement}.`,
    '',
    figuresTable(section.run),
    '',
    verdictTable(section.verdicts),
    '',
  ].join('\n');
}

export function renderReport(header: string[], sections: Section[], extra: string[] = []): string {
  const all = sections.flatMap((s) => s.verdicts);
  const missed = all.filter((v) => !v.met).length;
  return [
    '# Benchmark results',
    '',
    ...header,
    '',
    `**${all.length - missed} of ${all.length} targets met.**`,
    '',
    ...sections.map(renderSection),
    ...extra,
  ].join('\n');
}
