import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../src/app.js';
import { type Config, loadConfig } from '../src/config.js';
import type { Clock } from '../src/domain/clock.js';
import type { Argon2Cost } from '../src/modules/auth/passwords.js';
import type { Database } from '../src/platform/db.js';
import { openTestDatabase } from './database.js';

/** Real Argon2id at a cost that keeps the suite fast; production always uses OWASP_ARGON2. */
export const TEST_ARGON2: Argon2Cost = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

export const TEST_SECRET_KEY = 'test-secret-key-that-is-long-enough-0123456789';

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    SECRET_KEY: TEST_SECRET_KEY,
    PUBLIC_URL: 'http://tessera.test',
    LOG_LEVEL: 'info',
    // Suites sign in many times from one address; the abuse-limit tests turn the limits on themselves.
    AUTH_RATE_LIMIT_PER_MINUTE: '0',
    LOGIN_MAX_FAILURES: '0',
    ...env,
  });
}

export interface TestApp {
  app: FastifyInstance;
  database: Database;
  config: Config;
  /** Every log line the app wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Raw log output, for tests that grep it. */
  logText(): string;
  /** Closes the app and, unless it was passed in, the database. */
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  /** Share a database between several apps (two instances, or a restart). */
  database?: Database;
  clock?: Clock;
  /** Argon2id cost; the cheap TEST_ARGON2 unless a test needs production cost (timing tests). */
  argon2?: Argon2Cost;
}

/** The whole service on a real database, driven through `app.inject`. */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = options.database ?? (await openTestDatabase());
  const config = testConfig(options.env);
  const chunks: string[] = [];
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const app = await buildApp({
    config,
    database,
    argon2: options.argon2 ?? TEST_ARGON2,
    logStream,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const logText = () => chunks.join('');
  return {
    app,
    database,
    config,
    get logs() {
      return logText()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    logText,
    async close() {
      await app.close();
      if (!options.database) await database.close();
    },
  };
}

/** A clock tests can move forward. */
export class TestClock implements Clock {
  #now: number;
  constructor(start = Date.now()) {
    this.#now = start;
  }
  now(): Date {
    return new Date(this.#now);
  }
  advance(seconds: number): void {
    this.#now += seconds * 1000;
  }
}

export type Response = LightMyRequestResponse;

/** `app.inject` with a bearer token and a JSON body. */
export function request(
  app: FastifyInstance,
  method: InjectOptions['method'],
  url: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Response> {
  return app.inject({
    method,
    url,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    ...(options.body !== undefined ? { payload: options.body as InjectOptions['payload'] } : {}),
  });
}

/**
 * Asks until the answer has `status` (or satisfies `done`), for up to ~1 s: another instance hears
 * of a change through LISTEN/NOTIFY, which arrives asynchronously.
 */
export async function eventually(
  ask: () => Promise<Response>,
  done: number | ((response: Response) => boolean),
): Promise<Response> {
  const settled = typeof done === 'number' ? (r: Response) => r.statusCode === done : done;
  let response = await ask();
  for (let i = 0; i < 50 && !settled(response); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    response = await ask();
  }
  return response;
}
