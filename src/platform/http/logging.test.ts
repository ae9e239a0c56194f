import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/app.js';
import {
  AccessLogController,
  createLogger,
  LineBatcher,
  LOG_BATCH_CHARS,
  lazyChildLogger,
} from './logging.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return {
    logger: createLogger('trace', stream),
    text: () => lines.join(''),
    records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('redacts secret fields at the top level and nested', () => {
    const { logger, text, records } = capture();
    logger.info(
      {
        password: 'p1-secret',
        nested: { refreshToken: 'r1-secret', deeper: { apiKey: 'k1-secret' } },
        token: 't1-secret',
        body: {
          currentPassword: 'cp-secret',
          newPassword: 'np-secret',
          mfaToken: 'mfa-secret',
          code: '123456',
        },
        list: [{ accessToken: 'at-secret' }],
        keep: 'visible-value',
      },
      'an event',
    );
    expect(text()).not.toMatch(
      /p1-secret|r1-secret|k1-secret|t1-secret|cp-secret|np-secret|mfa-secret|123456|at-secret/,
    );
    const [record] = records();
    expect(record).toMatchObject({
      password: '[redacted]',
      nested: { refreshToken: '[redacted]', deeper: { apiKey: '[redacted]' } },
      token: '[redacted]',
      keep: 'visible-value',
      msg: 'an event',
    });
  });

  it('serialises a request without credentials or secret query values', () => {
    const { logger, records } = capture();
    logger.info({
      req: {
        method: 'GET',
        url: '/v1/invitations/accept?token=inv-secret&lang=en&CODE=654321&refresh_token=rt-secret',
        ip: '192.0.2.1',
        headers: {
          authorization: 'Bearer jwt-secret',
          cookie: 'session=cookie-secret',
          'x-api-key': 'tsk_key-secret',
          'user-agent': 'test-agent',
        },
      },
    });
    const [record] = records();
    expect(record?.req).toEqual({
      method: 'GET',
      url: '/v1/invitations/accept?token=[redacted]&lang=en&CODE=[redacted]&refresh_token=[redacted]',
      ip: '192.0.2.1',
      headers: {
        authorization: '[redacted]',
        cookie: '[redacted]',
        'x-api-key': '[redacted]',
        'user-agent': 'test-agent',
      },
    });
  });

  it('keeps a failed query’s SQL but not its bound values', () => {
    const { logger, text, records } = capture();
    const params = ['victim@example.test', '$argon2id$v=19$m=19456,t=2,p=1$salt$hash-secret'];
    const query = 'insert into "users" ("email", "password_hash") values ($1, $2)';
    // The shape of drizzle's DrizzleQueryError.
    const failed = Object.assign(new Error(`Failed query: ${query}\nparams: ${params}`), {
      query,
      params,
      cause: new Error('connection refused'),
    });
    logger.error({ err: failed }, 'unhandled error');
    logger.error({ err: new Error('wrapped', { cause: failed }) }, 'wrapped error');
    expect(text()).not.toContain('victim@example.test');
    expect(text()).not.toContain('hash-secret');
    const [direct, wrapped] = records() as Array<{ err: Record<string, unknown> }>;
    expect(direct!.err.message).toContain(`Failed query: ${query}\nparams: [redacted]`);
    expect(direct!.err.message).toContain('connection refused');
    expect(direct!.err.stack).toContain('params: [redacted]');
    expect(direct!.err.params).toBe('[redacted]');
    expect(direct!.err.query).toBe(query);
    expect(wrapped!.err.stack).toContain('params: [redacted]');
  });

  it('logs other errors unchanged, with their stack', () => {
    const { logger, records } = capture();
    logger.error({ err: new TypeError('plain failure') });
    const [record] = records() as Array<{ err: Record<string, unknown> }>;
    expect(record!.err).toMatchObject({ type: 'TypeError', message: 'plain failure' });
    expect(record!.err.stack).toContain('TypeError: plain failure');
  });

  it('honours the level', () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger('warn', stream);
    logger.info('hidden');
    logger.warn('shown');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('shown');
  });
});

describe('lazyChildLogger', () => {
  it('makes the child only when something logs, and then logs with its bindings, redacted', () => {
    const { logger, records } = capture();
    const makeChild = vi.spyOn(logger, 'child');
    const lazy = lazyChildLogger(logger, { reqId: 'r-1' }, {});
    expect(lazy.level).toBe('trace');
    expect(makeChild).not.toHaveBeenCalled();

    lazy.warn({ password: 'hunter2' }, 'first');
    lazy.info('second');
    expect(makeChild).toHaveBeenCalledTimes(1);
    expect(records()).toMatchObject([
      { level: 40, reqId: 'r-1', password: '[redacted]', msg: 'first' },
      { level: 30, reqId: 'r-1', msg: 'second' },
    ]);
    lazy.child({ step: 'inner' }).error('third');
    expect(records()[2]).toMatchObject({ level: 50, reqId: 'r-1', step: 'inner', msg: 'third' });
  });
});

describe('logging through the app', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { AUTH_RATE_LIMIT_PER_MINUTE: '0', LOG_LEVEL: 'trace' } });
  });
  afterAll(() => t.close());

  it('never writes credentials, passwords or query tokens', async () => {
    const secrets = [
      'BEARER-SECRET-X',
      'PASSWORD-SECRET-1',
      'QUERY-TOKEN-SECRET',
      'API-KEY-SECRET',
      'COOKIE-SECRET',
    ];
    await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login?token=QUERY-TOKEN-SECRET&other=1',
      headers: {
        authorization: 'Bearer BEARER-SECRET-X',
        'x-api-key': 'tsk_API-KEY-SECRET',
        cookie: 'sid=COOKIE-SECRET',
        'content-type': 'application/json',
      },
      payload: { email: 'someone@example.test', password: 'PASSWORD-SECRET-1' },
    });
    await t.app.inject({
      method: 'GET',
      url: '/v1/users/me?refresh_token=QUERY-TOKEN-SECRET',
      headers: { authorization: 'Bearer BEARER-SECRET-X' },
    });
    const log = t.logText();
    // The requests were logged, just not their secrets.
    expect(log).toContain('/v1/auth/login?token=[redacted]&other=1');
    expect(log).toContain('/v1/users/me?refresh_token=[redacted]');
    for (const secret of secrets) expect(log).not.toContain(secret);
  });

  it('writes one line per request: its id, method, masked URL, status and time', async () => {
    const before = t.logText().split('\n').length;
    const response = await t.app.inject({
      method: 'GET',
      url: '/health?token=HIDE-ME',
      headers: { 'x-request-id': 'access-line-1' },
    });
    expect(response.statusCode).toBe(200);
    const lines = t
      .logText()
      .split('\n')
      .slice(before - 1)
      .filter((line) => line.includes('access-line-1'))
      .map((line) => JSON.parse(line));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      reqId: 'access-line-1',
      req: { method: 'GET', url: '/health?token=[redacted]' },
      res: { statusCode: 200 },
      msg: 'request completed',
    });
    expect(typeof lines[0].responseTime).toBe('number');
    expect(typeof lines[0].time).toBe('number');
    expect(lines[0].pid).toBe(process.pid);
  });

  it('writes access lines at info and below only, as valid JSON whatever the URL holds', () => {
    const request = {
      id: 'r"1',
      method: 'GET',
      url: '/a"\\b\u2028',
      ip: undefined,
    } as unknown as FastifyRequest;
    const reply = { statusCode: 204, elapsedTime: 1.5 } as unknown as FastifyReply;
    const written = (level: string) => {
      const lines: string[] = [];
      new AccessLogController(level, { write: (line: string) => lines.push(line) }).requestCompleted(
        null,
        request,
        reply,
      );
      return lines;
    };
    expect(written('warn')).toEqual([]);
    expect(written('silent')).toEqual([]);
    const [line] = written('debug');
    expect(line!.endsWith('\n')).toBe(true);
    expect(JSON.parse(line!)).toMatchObject({
      level: 30,
      reqId: 'r"1',
      req: { method: 'GET', url: '/a"\\b\u2028', ip: null },
      res: { statusCode: 204 },
      responseTime: 1.5,
      msg: 'request completed',
    });
  });
});

describe('log batching', () => {
  it('hands lines on in order, a batch at a time, and the rest when flushed', () => {
    const writes: string[] = [];
    const batcher = new LineBatcher({ write: (text: string) => writes.push(text) });
    const line = `${'x'.repeat(99)}\n`;
    const perBatch = Math.ceil(LOG_BATCH_CHARS / line.length);
    for (let i = 0; i < perBatch - 1; i++) batcher.write(line);
    expect(writes).toEqual([]);
    batcher.write(line);
    expect(writes).toEqual([line.repeat(perBatch)]);
    batcher.write('last\n');
    batcher.flush();
    batcher.flush();
    expect(writes).toEqual([line.repeat(perBatch), 'last\n']);
  });

  it('writes what is pending to stdout when the process exits', () => {
    const script = [
      "const { logDestination } = await import('./src/platform/http/logging.ts');",
      'const out = logDestination();',
      "out.write('one\\n');",
      "out.write('two\\n');",
      'process.exit(0);',
    ].join(' ');
    const stdout = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(stdout).toBe('one\ntwo\n');
  });
});
