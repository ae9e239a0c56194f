import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isServerDatabase } from './database.js';

/**
 * `tessera serve` with WEB_CONCURRENCY=2, as an operator runs it: a cluster primary and two workers
 * on one port, on a PostgreSQL database of its own (PGlite is single-process, so this needs
 * TEST_DATABASE_URL). One cluster serves every test below, in order, because starting one costs
 * seconds; the last test stops it.
 *
 * Each request goes on a new connection: the primary hands out connections round-robin, so that
 * spreads requests over both workers. Which worker served a request is read from its log line
 * (pino writes the process id), found by the request id the test sends.
 */
const WORKERS = 2;

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

interface LogLine {
  pid: number;
  msg?: string;
  reqId?: string;
  workerPid?: number;
  [field: string]: unknown;
}

describe.skipIf(!isServerDatabase())('WEB_CONCURRENCY workers', { timeout: 30_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-cluster-'));
  const databaseName = `${inject('databasePrefix')}cluster_${randomBytes(4).toString('hex')}`;
  const templateUrl = new URL(inject('templateDatabaseUrl') || 'postgres://unused/none');
  const adminUrl = new URL('/postgres', templateUrl).toString();
  const databaseUrl = new URL(`/${databaseName}`, templateUrl).toString();

  let child: ChildProcess;
  let base = '';
  let stdout = '';
  let requests = 0;

  const logs = (): LogLine[] =>
    stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);
  const workerPids = () => logs().flatMap((l) => (l.msg === 'worker listening' ? [l.workerPid] : []));

  /** One request on its own connection, tagged with an id its log line carries. */
  function call(
    method: string,
    path: string,
    options: { token?: string; body?: unknown } = {},
  ): Promise<Reply & { id: string }> {
    const id = `cluster-test-${++requests}`;
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        `${base}${path}`,
        {
          method,
          agent: false,
          headers: {
            'x-request-id': id,
            ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
            ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk) => {
            text += String(chunk);
          });
          res.on('end', () =>
            resolve({ id, status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {} }),
          );
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /**
   * The process ids that served these requests, from their log lines. Workers write their logs in
   * batches, at least once a second, so this waits (up to 3 s) until every request's line is in.
   */
  async function servedBy(ids: string[]): Promise<Set<number>> {
    const wanted = new Set(ids);
    const deadline = Date.now() + 3_000;
    for (;;) {
      const lines = logs().filter((l) => l.reqId && wanted.has(l.reqId));
      if (lines.length >= wanted.size || Date.now() > deadline) return new Set(lines.map((l) => l.pid));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** `count` requests in a row, each on a new connection. */
  async function repeat(count: number, send: () => Promise<Reply & { id: string }>) {
    const replies: Array<Reply & { id: string }> = [];
    for (let i = 0; i < count; i++) replies.push(await send());
    return { statuses: replies.map((r) => r.status), servedBy: await servedBy(replies.map((r) => r.id)) };
  }

  /**
   * Asks until every worker has answered `status` at least once. The worker that made a change
   * drops its cache entry at once; the others hear of it through LISTEN/NOTIFY, a few milliseconds
   * later, and a request arriving within that window is still answered from their cache (as on
   * another host). What must hold is that the window is short, and that no worker falls back to
   * the old answer afterwards. Requests go in rounds, since which worker answered is known only
   * once its log line is written.
   */
  async function untilEveryWorker(status: number, send: () => Promise<Reply & { id: string }>) {
    const deadline = Date.now() + 5_000;
    const answered: string[] = [];
    for (;;) {
      for (let i = 0; i < 2 * WORKERS; i++) {
        const reply = await send();
        if (reply.status === status) answered.push(reply.id);
      }
      if ((await servedBy(answered)).size >= WORKERS) return;
      if (Date.now() > deadline) throw new Error(`not every worker answered ${status} within 5 s`);
    }
  }

  async function until(condition: () => boolean, what: string, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${stdout}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  beforeAll(async () => {
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${databaseName} template ${templateUrl.pathname.slice(1)}`);
    await admin.end();

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'development',
      DATABASE_URL: databaseUrl,
      DATA_DIR: dataDir,
      WEB_CONCURRENCY: String(WORKERS),
      PORT: '0',
      LOG_LEVEL: 'info',
      BOOTSTRAP_ADMIN_EMAIL: 'root@example.test',
      BOOTSTRAP_ADMIN_PASSWORD: 'cluster-root-passphrase',
    };
    delete env.REDIS_URL;
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'], { env });
    child.stdout?.on('data', (chunk) => {
      stdout += String(chunk);
    });
    child.stderr?.on('data', (chunk) => {
      stdout += String(chunk);
    });
    // The primary's log lines and its banner reach the pipe in either order; wait for both.
    const started = () => /listening on (http:\/\/\S+)/.test(stdout) && workerPids().length === WORKERS;
    await until(() => started() || child.exitCode !== null, 'the banner and both workers', 50_000);
    base = /listening on (http:\/\/\S+)/.exec(stdout)?.[1] ?? '';
    expect(base, stdout).not.toBe('');
  }, 60_000);

  afterAll(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists ${databaseName} with (force)`);
    await admin.end();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts WEB_CONCURRENCY workers on one port; bootstraps and prints the banner once', async () => {
    const pids = workerPids();
    expect(pids).toHaveLength(WORKERS);
    expect(new Set(pids).size).toBe(WORKERS);
    expect(pids).not.toContain(child.pid);
    expect(stdout.match(/Tessera is listening on/g)).toHaveLength(1);
    expect(stdout).toContain(`Workers: ${WORKERS}`);
    // Start-up work is done once, by the primary, before any worker serves.
    const bootstrapped = logs().filter((l) => l.msg === 'created the first superuser');
    expect(bootstrapped.map((l) => l.pid)).toEqual([child.pid]);
    const login = await call('POST', '/v1/auth/login', {
      body: { email: 'root@example.test', password: 'cluster-root-passphrase' },
    });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    // Without REDIS_URL each worker counts limits on its own; the operator is told so.
    expect(logs().some((l) => l.level === 40 && String(l.msg).includes('REDIS_URL'))).toBe(true);

    const health = await repeat(6, () => call('GET', '/health'));
    expect(health.statuses).toEqual(Array(6).fill(200));
    expect(health.servedBy).toEqual(new Set(pids));
  });

  it('a session ended on one worker is refused by every worker', async () => {
    const registered = await call('POST', '/v1/auth/register', {
      body: { email: 'leaver@example.test', password: 'cluster-passphrase-1' },
    });
    expect(registered.status, JSON.stringify(registered.body)).toBe(201);
    const token = String(registered.body.accessToken);

    // Both workers now hold the session in their caches.
    const before = await repeat(8, () => call('GET', '/v1/users/me', { token }));
    expect(before.statuses).toEqual(Array(8).fill(200));
    expect(before.servedBy.size).toBe(WORKERS);

    const logout = await call('POST', '/v1/auth/logout', { token, body: {} });
    expect(logout.status, JSON.stringify(logout.body)).toBe(204);
    await untilEveryWorker(401, () => call('GET', '/v1/users/me', { token }));
    const after = await repeat(20, () => call('GET', '/v1/users/me', { token }));
    expect(after.statuses).toEqual(Array(20).fill(401));
    expect(after.servedBy.size).toBe(WORKERS);
  });

  it('a permission taken from a role is denied by every worker', async () => {
    const owner = await call('POST', '/v1/auth/register', {
      body: { email: 'owner@example.test', password: 'cluster-passphrase-2' },
    });
    expect(owner.status, JSON.stringify(owner.body)).toBe(201);
    const ownerToken = String(owner.body.accessToken);
    const tenant = await call('POST', '/v1/tenants', { token: ownerToken, body: { name: 'Cluster Co' } });
    expect(tenant.status, JSON.stringify(tenant.body)).toBe(201);
    const tenantId = String(tenant.body.id);
    const role = await call('POST', `/v1/tenants/${tenantId}/roles`, {
      token: ownerToken,
      body: { name: 'reader', permissions: ['members:read'] },
    });
    expect(role.status, JSON.stringify(role.body)).toBe(201);
    const roleId = String(role.body.id);

    const member = await call('POST', '/v1/auth/register', {
      body: { email: 'reader@example.test', password: 'cluster-passphrase-3' },
    });
    expect(member.status, JSON.stringify(member.body)).toBe(201);
    const memberToken = String(member.body.accessToken);
    // Accepting needs a verified email; the link would come by mail.
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    await sql`update users set email_verified = true where email = 'reader@example.test'`;
    await sql.end();
    const invited = await call('POST', `/v1/tenants/${tenantId}/invitations`, {
      token: ownerToken,
      body: { email: 'reader@example.test', roleIds: [roleId] },
    });
    expect(invited.status, JSON.stringify(invited.body)).toBe(201);
    const accepted = await call('POST', `/v1/users/me/invitations/${invited.body.id}/accept`, {
      token: memberToken,
    });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);

    const members = () => call('GET', `/v1/tenants/${tenantId}/members`, { token: memberToken });
    const before = await repeat(8, members);
    expect(before.statuses).toEqual(Array(8).fill(200));
    expect(before.servedBy.size).toBe(WORKERS);

    const narrowed = await call('PUT', `/v1/tenants/${tenantId}/roles/${roleId}/permissions`, {
      token: ownerToken,
      body: { permissions: ['roles:read'] },
    });
    expect(narrowed.status, JSON.stringify(narrowed.body)).toBe(200);
    await untilEveryWorker(403, members);
    const after = await repeat(20, members);
    expect(after.statuses).toEqual(Array(20).fill(403));
    expect(after.servedBy.size).toBe(WORKERS);
  });

  it('replaces a worker that dies, and keeps answering meanwhile', async () => {
    const [victim, survivor] = workerPids();
    process.kill(Number(victim), 'SIGKILL');
    await until(
      () => logs().some((l) => l.msg === 'worker died; replacing it' && l.workerPid === victim),
      'the primary to notice',
    );
    const meanwhile = await repeat(4, () => call('GET', '/health'));
    expect(meanwhile.statuses).toEqual(Array(4).fill(200));
    expect(meanwhile.servedBy).toEqual(new Set([survivor]));

    await until(() => workerPids().length === WORKERS + 1, 'a replacement worker');
    const replacement = workerPids()[WORKERS];
    const later = await repeat(6, () => call('GET', '/health'));
    expect(later.statuses).toEqual(Array(6).fill(200));
    expect(later.servedBy).toEqual(new Set([survivor, replacement]));
  });

  it('on SIGTERM every worker stops and the primary exits 0', async () => {
    const pids = workerPids();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of pids) expect(() => process.kill(Number(pid), 0)).toThrow();
    await expect(call('GET', '/health')).rejects.toThrow();
  });
});
