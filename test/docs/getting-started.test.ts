import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportedSettings, readWalkthrough, shapeOf } from './markdown-blocks.js';

/**
 * docs/getting-started.md, run as written: the service is started the guide's way (the settings its
 * start block exports, an embedded database in a fresh DATA_DIR), then every step of the guide
 * runs in order in one bash session with `set -euo pipefail`, TESSERA pointing at that service. A
 * step that fails, or prints JSON of another shape than the guide shows, fails the test.
 */
const guide = readWalkthrough(readFileSync('docs/getting-started.md', 'utf8'));
const dataDir = mkdtempSync(join(tmpdir(), 'tessera-getting-started-'));
const MARK = (index: number) => `@@docs-step ${index}@@`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

async function startService(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'], {
    env: {
      ...process.env,
      // Empty values override a developer's .env: the guide runs on a fresh embedded database.
      DATABASE_URL: '',
      REDIS_URL: '',
      SMTP_URL: '',
      SECRET_KEY: '',
      PUBLIC_URL: '',
      NODE_ENV: 'development',
      WEB_CONCURRENCY: '1',
      LOG_LEVEL: 'warn',
      ...exportedSettings(guide.notRun),
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
    },
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const collect = (chunk: Buffer) => {
      output += String(chunk);
      if (/listening on http/.test(output)) resolve(child);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('exit', (code) => reject(new Error(`the service exited with ${code}:\n${output}`)));
  });
}

describe('docs/getting-started.md', { timeout: 60_000 }, () => {
  let service: ChildProcess | undefined;
  let baseUrl = '';
  beforeAll(async () => {
    const port = await freePort();
    service = await startService(port);
    baseUrl = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    if (service && service.exitCode === null) {
      const exited = new Promise((resolve) => service?.once('exit', resolve));
      service.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows how to install and start the service, and has steps to run', () => {
    expect(guide.notRun.join('\n')).toContain('npm install && npm start');
    expect(guide.steps.length).toBeGreaterThan(5);
    expect(guide.steps[0]?.script).toMatch(/^TESSERA=\$\{TESSERA:-http/m);
  });

  it('runs every step against the started service, each printing what the guide shows', () => {
    expect(spawnSync('jq', ['--version']).status, 'the guide needs jq on the PATH').toBe(0);
    const script = [
      'set -euo pipefail',
      ...guide.steps.map((step) => `printf '\\n%s\\n' '${MARK(step.index)}'\n${step.script}`),
    ].join('\n');
    const file = join(dataDir, 'getting-started.sh');
    writeFileSync(file, script);
    // From the repository root, as the guide is followed: node resolves jose from node_modules.
    const run = spawnSync('bash', [file], {
      env: { ...process.env, TESSERA: baseUrl },
      encoding: 'utf8',
      timeout: 45_000,
    });

    const outputs = new Map<number, string>();
    const parts = run.stdout.split(/\n@@docs-step (\d+)@@\n/);
    for (let i = 1; i < parts.length; i += 2) outputs.set(Number(parts[i]), parts[i + 1] ?? '');
    const reached = Math.max(0, ...outputs.keys());
    expect(
      run.status,
      `step ${reached} failed:\n${guide.steps[reached - 1]?.script}\nstderr:\n${run.stderr}`,
    ).toBe(0);
    expect(reached).toBe(guide.steps.length);

    for (const step of guide.steps) {
      if (step.expected === undefined) continue;
      const actual = outputs.get(step.index) ?? '';
      const where = `step ${step.index}:\n${step.script}\nprinted:\n${actual}`;
      expect(() => JSON.parse(actual), where).not.toThrow();
      expect(shapeOf(JSON.parse(actual)), where).toEqual(shapeOf(JSON.parse(step.expected)));
    }

    // The guide ends with the tenant-scoped token verified offline against the JWKS.
    const last = guide.steps[guide.steps.length - 1];
    expect(last?.script).toContain('jwtVerify');
    const verified = JSON.parse(outputs.get(guide.steps.length) ?? '{}') as {
      header?: { alg?: string };
      payload?: { tid?: string; permissions?: string[] };
    };
    expect(verified.header?.alg).toBe('EdDSA');
    expect(verified.payload?.tid).toMatch(/^[0-9a-f-]{36}$/);
    expect(verified.payload?.permissions).toContain('tenant:read');
  });
});
