import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { randomToken } from './domain/secrets.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  host: string;
  /** Unset: the embedded database (PGlite) in `dataDir`. */
  databaseUrl: string | undefined;
  /** Production must opt in to the embedded database; it is a single-process store. */
  allowEmbeddedDatabase: boolean;
  dataDir: string;
  publicUrl: string;
  smtpUrl: string | undefined;
  mailFrom: string | undefined;
  redisUrl: string | undefined;
  /** Prefix of every key Tessera writes to Redis (REDIS_KEY_PREFIX), so deployments can share a server. */
  redisKeyPrefix: string;
  allowSignup: boolean;
  allowTenantCreation: boolean;
  accessTokenTtl: number;
  refreshTokenTtl: number;
  invitationTtl: number;
  bootstrapAdminEmail: string | undefined;
  bootstrapAdminPassword: string | undefined;
  authRateLimitPerMinute: number;
  loginMaxFailures: number;
  trustProxy: boolean;
  corsOrigins: string[];
  corsAllowCredentials: boolean;
  secretKey: string;
  /** Worker processes serving the port (node:cluster); 1 runs the service in this process alone. */
  webConcurrency: number;
  auditRetentionDays: number | undefined;
  metricsToken: string | undefined;
  logLevel: LogLevel;
  bodyLimitBytes: number;
  /** Settings accepted but adjusted, for the server to log at start (they are not errors). */
  warnings: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** process.env wins over `.env`, as with every dotenv loader. */
export function readEnv(file = '.env', env: Env = process.env): Env {
  const fromFile = existsSync(file) ? parseDotenv(readFileSync(file)) : {};
  return { ...fromFile, ...env };
}

const SECRET_KEY_MIN = 32;
const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Parses and checks every setting once, at start. Every problem is collected and reported
 * together, each naming its variable, so an operator fixes a bad deployment in one go.
 */
export function loadConfig(env: Env = readEnv()): Config {
  const problems: string[] = [];
  const str = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  const int = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = str(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = str(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['true', '1', 'yes', 'on'].includes(raw)) return true;
    if (['false', '0', 'no', 'off'].includes(raw)) return false;
    problems.push(`${name} must be true or false (got "${raw}")`);
    return fallback;
  };
  const url = (name: string, protocols: string[]): string | undefined => {
    const raw = str(name);
    if (raw === undefined) return undefined;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) throw new Error('protocol');
      return raw;
    } catch {
      problems.push(`${name} must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL`);
      return undefined;
    }
  };

  const nodeEnvRaw = str('NODE_ENV') ?? 'development';
  if (!['development', 'production', 'test'].includes(nodeEnvRaw)) {
    problems.push(`NODE_ENV must be development, production or test (got "${nodeEnvRaw}")`);
  }
  const nodeEnv = (
    ['production', 'test'].includes(nodeEnvRaw) ? nodeEnvRaw : 'development'
  ) as Config['nodeEnv'];
  const production = nodeEnv === 'production';

  const logLevel = (str('LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  // Parsed once: PUBLIC_URL's default needs it too, and a bad PORT must be reported only once.
  const port = int('PORT', 8000, 0, 65535);
  const publicUrl = (url('PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`).replace(
    /\/+$/,
    '',
  );
  const corsOrigins = (str('CORS_ORIGINS') ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      problems.push(`CORS_ORIGINS: "${origin}" is not an origin like https://app.example.com`);
    }
  }

  const emailRaw = str('BOOTSTRAP_ADMIN_EMAIL');
  if (emailRaw !== undefined && !/^[^\s@]+@[^\s@]+$/.test(emailRaw)) {
    problems.push('BOOTSTRAP_ADMIN_EMAIL must be an email address');
  }
  if ((emailRaw === undefined) !== (str('BOOTSTRAP_ADMIN_PASSWORD') === undefined)) {
    problems.push('BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD must be set together');
  }

  const retention = str('AUDIT_RETENTION_DAYS') === undefined ? undefined : int('AUDIT_RETENTION_DAYS', 0, 1);

  const config: Config = {
    nodeEnv,
    port,
    host: str('HOST') ?? '127.0.0.1',
    databaseUrl: url('DATABASE_URL', ['postgres:', 'postgresql:']),
    allowEmbeddedDatabase: bool('ALLOW_EMBEDDED_DATABASE', !production),
    dataDir: resolve(str('DATA_DIR') ?? './data'),
    publicUrl,
    smtpUrl: url('SMTP_URL', ['smtp:', 'smtps:']),
    mailFrom: str('MAIL_FROM'),
    redisUrl: url('REDIS_URL', ['redis:', 'rediss:']),
    redisKeyPrefix: str('REDIS_KEY_PREFIX') ?? 'tessera:',
    allowSignup: bool('ALLOW_SIGNUP', true),
    allowTenantCreation: bool('ALLOW_TENANT_CREATION', true),
    accessTokenTtl: int('ACCESS_TOKEN_TTL', 900, 30, 86_400),
    refreshTokenTtl: int('REFRESH_TOKEN_TTL', 2_592_000, 60, 31_536_000),
    invitationTtl: int('INVITATION_TTL', 604_800, 60, 31_536_000),
    bootstrapAdminEmail: emailRaw?.toLowerCase(),
    bootstrapAdminPassword: str('BOOTSTRAP_ADMIN_PASSWORD'),
    authRateLimitPerMinute: int('AUTH_RATE_LIMIT_PER_MINUTE', 20, 0),
    loginMaxFailures: int('LOGIN_MAX_FAILURES', 5, 0),
    trustProxy: bool('TRUST_PROXY', false),
    corsOrigins,
    corsAllowCredentials: bool('CORS_ALLOW_CREDENTIALS', false),
    secretKey: '',
    webConcurrency: int('WEB_CONCURRENCY', production ? availableParallelism() : 1, 1, 256),
    auditRetentionDays: retention,
    metricsToken: str('METRICS_TOKEN'),
    logLevel,
    bodyLimitBytes: int('BODY_LIMIT_BYTES', 1_048_576, 1024, 64 * 1_048_576),
    warnings: [],
  };

  // The embedded database is a single-process store: a second worker could not open it. Asking for
  // several is a mistake to report; the production default (one per core) quietly cannot apply.
  if (str('DATABASE_URL') === undefined && config.webConcurrency > 1) {
    if (str('WEB_CONCURRENCY') !== undefined) {
      problems.push(
        `WEB_CONCURRENCY=${config.webConcurrency} needs DATABASE_URL: the embedded database serves one process (use 1, or set DATABASE_URL)`,
      );
    } else {
      config.warnings.push(
        `WEB_CONCURRENCY defaults to ${config.webConcurrency} (one per core) in production, but the embedded database serves one process: running 1 (set DATABASE_URL to run more)`,
      );
      config.webConcurrency = 1;
    }
  }

  if (config.refreshTokenTtl < config.accessTokenTtl) {
    // Sessions slide to now + REFRESH_TOKEN_TTL each time a token is issued; an access token that
    // outlived its session would keep working after the session had expired.
    problems.push('REFRESH_TOKEN_TTL must be at least ACCESS_TOKEN_TTL');
  }

  const secretKey = str('SECRET_KEY');
  if (secretKey !== undefined && secretKey.length < SECRET_KEY_MIN) {
    problems.push(`SECRET_KEY must be at least ${SECRET_KEY_MIN} characters`);
  }

  if (production) {
    if (secretKey === undefined) problems.push('SECRET_KEY is required when NODE_ENV=production');
    if (config.corsOrigins.includes('*') && config.corsAllowCredentials) {
      problems.push('CORS_ORIGINS=* cannot be combined with CORS_ALLOW_CREDENTIALS=true in production');
    }
    if (config.databaseUrl === undefined && !config.allowEmbeddedDatabase) {
      problems.push(
        'DATABASE_URL is required when NODE_ENV=production (or set ALLOW_EMBEDDED_DATABASE=true to run on the embedded database)',
      );
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);
  config.secretKey = secretKey ?? developmentSecretKey(config.dataDir);
  return config;
}

/**
 * Outside production a missing SECRET_KEY is generated once and kept in DATA_DIR, so restarts can
 * still decrypt what earlier runs encrypted.
 *
 * The file is written whole under a temporary name and then hard-linked into place, which fails if
 * the file already exists: processes starting together all end up with the one key on disk (a plain
 * exists-then-write lets two of them each keep a different key), and nobody reads a half-written
 * file. A damaged file (empty, truncated) is refused rather than used as a weak key.
 */
function developmentSecretKey(dataDir: string): string {
  const file = join(dataDir, 'secret-key');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    const temporary = `${file}.${process.pid}.${randomToken(6)}`;
    writeFileSync(temporary, `${randomToken(48)}\n`, { mode: 0o600 });
    try {
      linkSync(temporary, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        // A filesystem without hard links: an exclusive create still never replaces a key.
        writeFileSync(file, readFileSync(temporary), { mode: 0o600, flag: 'wx' });
      }
    } finally {
      rmSync(temporary, { force: true });
    }
  }
  const key = readFileSync(file, 'utf8').trim();
  if (key.length < SECRET_KEY_MIN) {
    throw new ConfigError([
      `${file} holds no usable SECRET_KEY (under ${SECRET_KEY_MIN} characters); restore it, or set SECRET_KEY`,
    ]);
  }
  return key;
}
