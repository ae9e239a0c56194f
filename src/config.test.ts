import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, readEnv } from './config.js';

const root = mkdtempSync(join(tmpdir(), 'tessera-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let dataDir: string;
let dirs = 0;
beforeEach(() => {
  dataDir = join(root, `data-${++dirs}`);
});

const SECRET = 'x'.repeat(32);

/** The ConfigError `loadConfig(env)` throws; fails the test when it does not throw one. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig({ DATA_DIR: dataDir, ...env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig defaults', () => {
  it('match the Running table of the contract', () => {
    const config = loadConfig({ DATA_DIR: dataDir });
    expect(config).toMatchObject({
      nodeEnv: 'development',
      port: 8000,
      host: '127.0.0.1',
      databaseUrl: undefined,
      allowEmbeddedDatabase: true,
      dataDir,
      publicUrl: 'http://localhost:8000',
      smtpUrl: undefined,
      mailFrom: undefined,
      redisUrl: undefined,
      allowSignup: true,
      allowTenantCreation: true,
      accessTokenTtl: 900,
      refreshTokenTtl: 2_592_000,
      invitationTtl: 604_800,
      bootstrapAdminEmail: undefined,
      bootstrapAdminPassword: undefined,
      authRateLimitPerMinute: 20,
      loginMaxFailures: 5,
      trustProxy: false,
      corsOrigins: [],
      corsAllowCredentials: false,
      webConcurrency: 1,
      auditRetentionDays: undefined,
      metricsToken: undefined,
      logLevel: 'info',
    });
    expect(config.secretKey.length).toBeGreaterThanOrEqual(32);
  });

  it('DATA_DIR defaults to ./data, resolved to an absolute path', () => {
    // With SECRET_KEY set nothing is written, so the default directory is never touched.
    expect(loadConfig({ SECRET_KEY: SECRET }).dataDir).toBe(join(process.cwd(), 'data'));
  });

  it('production defaults WEB_CONCURRENCY to the number of cores', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      SECRET_KEY: SECRET,
      DATABASE_URL: 'postgres://db.internal/tessera',
      DATA_DIR: dataDir,
    });
    expect(config.webConcurrency).toBe(availableParallelism());
    expect(config.allowEmbeddedDatabase).toBe(false);
  });

  it('treats blank values as unset and trims the rest', () => {
    const config = loadConfig({ DATA_DIR: dataDir, PORT: '  ', HOST: ' 0.0.0.0 ', LOG_LEVEL: '' });
    expect(config.port).toBe(8000);
    expect(config.host).toBe('0.0.0.0');
    expect(config.logLevel).toBe('info');
  });
});

describe('loadConfig parses values', () => {
  it('reads every documented variable', () => {
    const config = loadConfig({
      DATA_DIR: dataDir,
      NODE_ENV: 'test',
      PORT: '9001',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgresql://u:p@db:5432/tessera',
      PUBLIC_URL: 'https://id.example.com/',
      SMTP_URL: 'smtps://mail.example.com',
      MAIL_FROM: 'Tessera <no-reply@example.com>',
      REDIS_URL: 'redis://cache:6379',
      REDIS_KEY_PREFIX: 'iam-eu:',
      ALLOW_SIGNUP: 'false',
      ALLOW_TENANT_CREATION: 'no',
      ACCESS_TOKEN_TTL: '60',
      REFRESH_TOKEN_TTL: '3600',
      INVITATION_TTL: '86400',
      BOOTSTRAP_ADMIN_EMAIL: ' Admin@Example.COM ',
      BOOTSTRAP_ADMIN_PASSWORD: 'a long admin password',
      AUTH_RATE_LIMIT_PER_MINUTE: '0',
      LOGIN_MAX_FAILURES: '0',
      TRUST_PROXY: 'TRUE',
      CORS_ORIGINS: 'https://app.example.com, http://localhost:3000',
      CORS_ALLOW_CREDENTIALS: 'on',
      SECRET_KEY: SECRET,
      WEB_CONCURRENCY: '4',
      AUDIT_RETENTION_DAYS: '365',
      METRICS_TOKEN: 'metrics-token',
      LOG_LEVEL: 'warn',
      BODY_LIMIT_BYTES: '2048',
    });
    expect(config).toEqual({
      nodeEnv: 'test',
      port: 9001,
      host: '0.0.0.0',
      databaseUrl: 'postgresql://u:p@db:5432/tessera',
      allowEmbeddedDatabase: true,
      dataDir,
      publicUrl: 'https://id.example.com',
      smtpUrl: 'smtps://mail.example.com',
      mailFrom: 'Tessera <no-reply@example.com>',
      redisUrl: 'redis://cache:6379',
      redisKeyPrefix: 'iam-eu:',
      allowSignup: false,
      allowTenantCreation: false,
      accessTokenTtl: 60,
      refreshTokenTtl: 3600,
      invitationTtl: 86_400,
      bootstrapAdminEmail: 'admin@example.com',
      bootstrapAdminPassword: 'a long admin password',
      authRateLimitPerMinute: 0,
      loginMaxFailures: 0,
      trustProxy: true,
      corsOrigins: ['https://app.example.com', 'http://localhost:3000'],
      corsAllowCredentials: true,
      secretKey: SECRET,
      webConcurrency: 4,
      auditRetentionDays: 365,
      metricsToken: 'metrics-token',
      logLevel: 'warn',
      bodyLimitBytes: 2048,
      warnings: [],
    });
  });

  it('PUBLIC_URL defaults to localhost on the configured PORT', () => {
    expect(loadConfig({ DATA_DIR: dataDir, PORT: '9100' }).publicUrl).toBe('http://localhost:9100');
  });
});

describe('loadConfig refuses bad values, naming the variable', () => {
  it.each([
    ['PORT', 'abc'],
    ['PORT', '65536'],
    ['PORT', '80.5'],
    ['ACCESS_TOKEN_TTL', '-1'],
    ['ACCESS_TOKEN_TTL', '10'],
    ['REFRESH_TOKEN_TTL', '1e9'],
    ['INVITATION_TTL', 'week'],
    ['AUTH_RATE_LIMIT_PER_MINUTE', '-5'],
    ['LOGIN_MAX_FAILURES', 'lots'],
    ['WEB_CONCURRENCY', '0'],
    ['AUDIT_RETENTION_DAYS', '0'],
    ['BODY_LIMIT_BYTES', '10'],
    ['ALLOW_SIGNUP', 'maybe'],
    ['ALLOW_TENANT_CREATION', '2'],
    ['TRUST_PROXY', 'sometimes'],
    ['CORS_ALLOW_CREDENTIALS', 'y'],
    ['ALLOW_EMBEDDED_DATABASE', 'perhaps'],
    ['DATABASE_URL', 'mysql://x'],
    ['DATABASE_URL', 'not a url'],
    ['PUBLIC_URL', 'ftp://example.com'],
    ['SMTP_URL', 'http://mail.example.com'],
    ['REDIS_URL', 'memcached://cache'],
    ['CORS_ORIGINS', 'not-an-origin'],
    ['CORS_ORIGINS', 'https://app.example.com/path'],
    ['LOG_LEVEL', 'loud'],
    ['NODE_ENV', 'staging'],
    ['SECRET_KEY', 'too-short'],
  ])('%s=%s', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toContain(name);
    expect(error.message).toContain(name);
  });

  it('WEB_CONCURRENCY above 1 on the embedded database, which one process serves', () => {
    const error = configError({ WEB_CONCURRENCY: '2' });
    expect(error.problems).toEqual([expect.stringContaining('WEB_CONCURRENCY')]);
    expect(error.problems[0]).toContain('DATABASE_URL');
    const embeddedProduction = {
      NODE_ENV: 'production',
      SECRET_KEY: SECRET,
      ALLOW_EMBEDDED_DATABASE: 'true',
      WEB_CONCURRENCY: '4',
    };
    expect(configError(embeddedProduction).problems).toEqual([expect.stringContaining('WEB_CONCURRENCY')]);
    // One worker is fine, and so are several on a database server.
    expect(loadConfig({ DATA_DIR: dataDir, WEB_CONCURRENCY: '1' }).webConcurrency).toBe(1);
    const server = loadConfig({ DATA_DIR: dataDir, WEB_CONCURRENCY: '2', DATABASE_URL: 'postgres://db/t' });
    expect(server.webConcurrency).toBe(2);
  });

  it('BOOTSTRAP_ADMIN_EMAIL without a password, and the reverse', () => {
    const emailOnly = configError({ BOOTSTRAP_ADMIN_EMAIL: 'admin@example.com' });
    expect(emailOnly.problems).toEqual([expect.stringContaining('BOOTSTRAP_ADMIN_PASSWORD')]);
    expect(emailOnly.problems[0]).toContain('BOOTSTRAP_ADMIN_EMAIL');
    const passwordOnly = configError({ BOOTSTRAP_ADMIN_PASSWORD: 'a long admin password' });
    expect(passwordOnly.problems).toEqual([expect.stringContaining('BOOTSTRAP_ADMIN_EMAIL')]);
  });

  it('BOOTSTRAP_ADMIN_EMAIL that is not an address', () => {
    const error = configError({ BOOTSTRAP_ADMIN_EMAIL: 'admin', BOOTSTRAP_ADMIN_PASSWORD: 'long password' });
    expect(error.problems).toEqual([expect.stringContaining('BOOTSTRAP_ADMIN_EMAIL must be an email')]);
  });

  it('never echoes secrets (passwords in URLs, a short SECRET_KEY) into the message', () => {
    const error = configError({
      DATABASE_URL: 'mysql://admin:hunter2-db@db/tessera',
      REDIS_URL: 'http://:hunter2-redis@cache',
      SMTP_URL: 'http://user:hunter2-smtp@mail',
      SECRET_KEY: 'hunter2-secret',
    });
    expect(error.problems).toHaveLength(4);
    expect(error.message).not.toMatch(/hunter2/);
  });

  it('reports several problems together, one per variable', () => {
    const error = configError({
      PORT: 'abc',
      ACCESS_TOKEN_TTL: '-1',
      ALLOW_SIGNUP: 'maybe',
      DATABASE_URL: 'mysql://x',
      CORS_ORIGINS: 'not-an-origin',
      LOG_LEVEL: 'loud',
      SECRET_KEY: 'short',
      BOOTSTRAP_ADMIN_EMAIL: 'admin@example.com',
    });
    const names = [
      'PORT',
      'ACCESS_TOKEN_TTL',
      'ALLOW_SIGNUP',
      'DATABASE_URL',
      'CORS_ORIGINS',
      'LOG_LEVEL',
      'SECRET_KEY',
      'BOOTSTRAP_ADMIN_PASSWORD',
    ];
    expect(error.problems).toHaveLength(names.length);
    for (const name of names) expect(error.problems.some((p) => p.includes(name))).toBe(true);
    for (const problem of error.problems) expect(error.message).toContain(problem);
  });

  it('writes no secret file when it refuses to start', () => {
    configError({ PORT: 'abc' });
    expect(() => statSync(join(dataDir, 'secret-key'))).toThrow();
  });
});

describe('loadConfig in production', () => {
  const production = { NODE_ENV: 'production', SECRET_KEY: SECRET, DATABASE_URL: 'postgres://db/tessera' };

  it('starts with a SECRET_KEY and a DATABASE_URL', () => {
    const config = loadConfig({ ...production, DATA_DIR: dataDir });
    expect(config.nodeEnv).toBe('production');
    expect(config.secretKey).toBe(SECRET);
  });

  it('refuses to run without SECRET_KEY, and generates none', () => {
    const error = configError({ ...production, SECRET_KEY: '' });
    expect(error.problems).toEqual([expect.stringContaining('SECRET_KEY is required')]);
    expect(() => statSync(join(dataDir, 'secret-key'))).toThrow();
  });

  it('refuses CORS_ORIGINS=* with CORS_ALLOW_CREDENTIALS=true', () => {
    const error = configError({ ...production, CORS_ORIGINS: '*', CORS_ALLOW_CREDENTIALS: 'true' });
    expect(error.problems).toEqual([expect.stringContaining('CORS_ALLOW_CREDENTIALS')]);
    expect(error.problems[0]).toContain('CORS_ORIGINS');
    // Either one alone is allowed.
    expect(loadConfig({ ...production, DATA_DIR: dataDir, CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*']);
  });

  it('refuses the embedded database unless ALLOW_EMBEDDED_DATABASE=true', () => {
    const error = configError({ ...production, DATABASE_URL: '' });
    expect(error.problems).toEqual([expect.stringContaining('DATABASE_URL is required')]);
    expect(error.problems[0]).toContain('ALLOW_EMBEDDED_DATABASE');
    const config = loadConfig({
      ...production,
      DATABASE_URL: '',
      ALLOW_EMBEDDED_DATABASE: 'true',
      DATA_DIR: dataDir,
    });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.allowEmbeddedDatabase).toBe(true);
  });

  it('runs one worker on the embedded database when WEB_CONCURRENCY is left to its default', () => {
    const config = loadConfig({
      ...production,
      DATABASE_URL: '',
      ALLOW_EMBEDDED_DATABASE: 'true',
      DATA_DIR: dataDir,
    });
    expect(config.webConcurrency).toBe(1);
    // One core would default to 1 anyway: nothing was adjusted, nothing to say.
    if (availableParallelism() > 1) {
      expect(config.warnings).toEqual([expect.stringContaining('WEB_CONCURRENCY')]);
      expect(config.warnings[0]).toContain('DATABASE_URL');
    } else {
      expect(config.warnings).toEqual([]);
    }
  });

  it('keeps the default WEB_CONCURRENCY on a database server, with nothing to warn about', () => {
    const config = loadConfig({ ...production, DATA_DIR: dataDir });
    expect(config.webConcurrency).toBe(availableParallelism());
    expect(config.warnings).toEqual([]);
  });

  it('reports every production problem at once', () => {
    const error = configError({ NODE_ENV: 'production', CORS_ORIGINS: '*', CORS_ALLOW_CREDENTIALS: 'yes' });
    expect(error.problems).toHaveLength(3);
  });
});

describe('development SECRET_KEY', () => {
  it('is generated once into DATA_DIR/secret-key, readable by the owner only, and reused', () => {
    const first = loadConfig({ DATA_DIR: dataDir });
    const file = join(dataDir, 'secret-key');
    expect(readFileSync(file, 'utf8').trim()).toBe(first.secretKey);
    expect(first.secretKey.length).toBeGreaterThanOrEqual(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dataDir)).toEqual(['secret-key']);

    const second = loadConfig({ DATA_DIR: dataDir });
    expect(second.secretKey).toBe(first.secretKey);
  });

  it('is different in another DATA_DIR', () => {
    const a = loadConfig({ DATA_DIR: join(dataDir, 'a') });
    const b = loadConfig({ DATA_DIR: join(dataDir, 'b') });
    expect(a.secretKey).not.toBe(b.secretKey);
  });

  it('is generated in test mode too, but never replaces an explicit SECRET_KEY', () => {
    expect(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir }).secretKey).toHaveLength(64);
    expect(loadConfig({ DATA_DIR: dataDir, SECRET_KEY: SECRET }).secretKey).toBe(SECRET);
  });

  it('refuses a damaged key file instead of encrypting with a weak key', () => {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'secret-key'), '\n');
    const error = configError({});
    expect(error.problems).toEqual([expect.stringContaining(join(dataDir, 'secret-key'))]);
    expect(error.problems[0]).toContain('SECRET_KEY');
  });
});

describe('readEnv', () => {
  it('reads a .env file, and the process environment wins', () => {
    const file = join(root, 'test.env');
    writeFileSync(file, 'PORT=9000\nLOG_LEVEL=debug\n# a comment\nMAIL_FROM="Tessera <a@b.c>"\n');
    const env = readEnv(file, { LOG_LEVEL: 'warn', HOST: '0.0.0.0' });
    expect(env).toEqual({
      PORT: '9000',
      LOG_LEVEL: 'warn',
      MAIL_FROM: 'Tessera <a@b.c>',
      HOST: '0.0.0.0',
    });
    expect(loadConfig({ ...env, DATA_DIR: dataDir })).toMatchObject({ port: 9000, logLevel: 'warn' });
  });

  it('answers the environment alone when there is no file', () => {
    expect(readEnv(join(root, 'missing.env'), { PORT: '1' })).toEqual({ PORT: '1' });
  });

  it('defaults to process.env', () => {
    expect(readEnv(join(root, 'missing.env'))).toEqual({ ...process.env });
  });
});
