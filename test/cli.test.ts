import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The real entry points as an operator runs them: the CLI in a child process on its own embedded
 * database in a temporary DATA_DIR.
 */
const CLI = ['--import', 'tsx', 'src/cli.ts'];
const dataDir = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
// The CLI runs on its own embedded database, whatever the test run's environment says.
const env: NodeJS.ProcessEnv = {
  ...process.env,
  NODE_ENV: 'development',
  DATA_DIR: dataDir,
  LOG_LEVEL: 'warn',
  PORT: '0',
};
delete env.DATABASE_URL;

function cli(...args: string[]) {
  return spawnSync(process.execPath, [...CLI, ...args], { env, encoding: 'utf8', timeout: 60_000 });
}

function serve(
  extraEnv: Record<string, string> = {},
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [...CLI, 'serve'], { env: { ...env, ...extraEnv } });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += String(chunk);
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match?.[1]) resolve({ child, url: match[1], output: () => out });
    });
    child.stderr.on('data', (chunk) => {
      out += String(chunk);
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

// Each test boots PGlite in a child process (seconds each), slower still while other files run.
describe('tessera CLI', { timeout: 90_000 }, () => {
  beforeAll(() => {
    const result = cli('migrate');
    expect(result.stdout).toContain('Migrations applied');
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('refuses an unknown command and a create-admin without a password', () => {
    expect(cli('frobnicate').status).toBe(2);
    expect(cli('create-admin', '--email', 'root@example.test').status).toBe(2);
  });

  it('reports a bad setting by its name and does not start', () => {
    const result = spawnSync(process.execPath, [...CLI, 'migrate'], {
      env: { ...env, ACCESS_TOKEN_TTL: 'soon' },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('ACCESS_TOKEN_TTL');
  });

  it('create-admin makes a superuser who can sign in; rotate-keys publishes a second key', async () => {
    const created = cli(
      'create-admin',
      '--email',
      'Root@Example.test',
      '--password',
      'a-long-admin-passphrase',
    );
    expect(created.status).toBe(0);
    expect(created.stdout).toContain('Created superuser');
    const promoted = cli(
      'create-admin',
      '--email',
      'root@example.test',
      '--password',
      'another-admin-passphrase',
    );
    expect(promoted.stdout).toContain('is now a superuser');
    expect(cli('rotate-keys').stdout).toContain('is active');

    const { child, url } = await serve();
    try {
      const login = await fetch(`${url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'root@example.test', password: 'another-admin-passphrase' }),
      });
      expect(login.status).toBe(200);
      const { user } = (await login.json()) as { user: { isSuperuser: boolean } };
      expect(user.isSuperuser).toBe(true);
      const jwks = (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: unknown[] };
      expect(jwks.keys).toHaveLength(2);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  });

  it('on SIGTERM finishes the requests in flight, then exits 0', async () => {
    const { child, url, output } = await serve({ LOG_LEVEL: 'info' });
    const done = exited(child);
    // Logins cost an Argon2id verification each, so several are still running at the signal.
    // One email each: six failures for one account from one address would meet LOGIN_MAX_FAILURES.
    const logins = Array.from({ length: 6 }, (_, i) =>
      fetch(`${url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: `nobody-${i}@example.test`, password: 'not-the-password' }),
      }).then((r) => r.status),
    );
    // Signal only once the server has taken every request; one still in the accept queue when the
    // listener closes is refused, which is not what this test is about.
    while ((output().match(/"url":"\/v1\/auth\/login"/g) ?? []).length < 6) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    child.kill('SIGTERM');
    expect(await Promise.all(logins)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(await done).toBe(0);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });

  it('creates the first superuser from BOOTSTRAP_ADMIN_* at start-up', async () => {
    const bootDir = mkdtempSync(join(tmpdir(), 'tessera-boot-'));
    const { child, url } = await serve({
      DATA_DIR: bootDir,
      BOOTSTRAP_ADMIN_EMAIL: 'boot@example.test',
      BOOTSTRAP_ADMIN_PASSWORD: 'bootstrap-passphrase-1',
    });
    try {
      const login = await fetch(`${url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'boot@example.test', password: 'bootstrap-passphrase-1' }),
      });
      expect(login.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
      rmSync(bootDir, { recursive: true, force: true });
    }
  });
});
