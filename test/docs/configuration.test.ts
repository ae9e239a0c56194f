import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

/**
 * docs/configuration.md keeps one table row per environment variable. The names loadConfig reads
 * are recorded by handing it an env that notes every key asked for, in development and in
 * production (some checks only run there), so nothing depends on a list kept by hand.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'tessera-docs-config-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function namesRead(base: Record<string, string>): Set<string> {
  const read = new Set<string>();
  const env = new Proxy(base, {
    get(target, key) {
      if (typeof key === 'string') read.add(key);
      return Reflect.get(target, key);
    },
    has(target, key) {
      if (typeof key === 'string') read.add(key);
      return Reflect.has(target, key);
    },
  });
  loadConfig(env);
  return read;
}

function namesInTable(): Set<string> {
  const doc = readFileSync('docs/configuration.md', 'utf8');
  const names = new Set<string>();
  for (const line of doc.split('\n')) {
    // A table row's first cell: `NAME`, the only place a variable is declared.
    const cell = /^\|\s*([^|]*)\|/.exec(line)?.[1] ?? '';
    for (const match of cell.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) names.add(match[1] as string);
  }
  return names;
}

describe('docs/configuration.md', () => {
  const read = new Set([
    ...namesRead({ DATA_DIR: dataDir }),
    ...namesRead({
      NODE_ENV: 'production',
      DATA_DIR: dataDir,
      SECRET_KEY: 'a-production-secret-key-of-32-characters-or-more',
      DATABASE_URL: 'postgres://tessera@db.internal:5432/tessera',
    }),
  ]);
  const documented = namesInTable();

  it('reads the variables this test knows to look for (the recording works)', () => {
    for (const name of ['PORT', 'DATABASE_URL', 'SECRET_KEY', 'WEB_CONCURRENCY'])
      expect(read).toContain(name);
  });

  it('has a row for every variable the configuration reads', () => {
    expect([...read].filter((name) => !documented.has(name)).sort()).toEqual([]);
  });

  it('has no row for a variable the configuration does not read', () => {
    expect([...documented].filter((name) => !read.has(name)).sort()).toEqual([]);
  });
});
