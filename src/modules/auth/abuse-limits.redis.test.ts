import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, type Response, type TestApp } from '../../../test/app.js';
import { createUser, uniqueEmail } from '../../../test/factories.js';
import { RedisStore } from '../../platform/limits/redis-store.js';
import { type LimitStore, MemoryStore, type SignInKeys } from '../../platform/limits/store.js';

/**
 * The abuse limits shared through Redis (REDIS_URL) by two instances on one database, and what
 * each instance does when Redis goes away. Runs against the Redis at TEST_REDIS_URL (CI sets it,
 * like TEST_DATABASE_URL); `npm test` on a machine without Redis leaves these out. Each test writes
 * under a key prefix of its own, deleted afterwards.
 */
const REDIS = process.env.TEST_REDIS_URL ?? '';
const WRONG = 'not-the-password-at-all-1';
const UNREACHABLE_WARNING = 'Redis is unreachable';

let admin: Redis;
const prefixes: string[] = [];
const apps: TestApp[] = [];

beforeAll(() => {
  if (REDIS) admin = new Redis(REDIS);
});
afterEach(async () => {
  for (const t of apps.splice(0).reverse()) await t.close();
});
afterAll(async () => {
  if (!REDIS) return;
  for (const prefix of prefixes) {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
  }
  await admin.quit();
});

function newPrefix(): string {
  const prefix = `tessera-test:${randomBytes(6).toString('hex')}:`;
  prefixes.push(prefix);
  return prefix;
}

/** Two instances on one database and one Redis, as behind a load balancer. */
async function twoInstances(env: Record<string, string>): Promise<[TestApp, TestApp]> {
  const shared = { REDIS_URL: REDIS, REDIS_KEY_PREFIX: newPrefix(), ...env };
  const a = await createTestApp({ env: shared });
  apps.push(a);
  const b = await createTestApp({ env: shared, database: a.database });
  apps.push(b);
  return [a, b];
}

function login(t: TestApp, email: string, password: string, ip = '10.9.0.1') {
  return t.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { email, password },
    remoteAddress: ip,
  });
}

function expectThrottled(response: Response): void {
  expect(response.statusCode, response.body).toBe(429);
  expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
}

const warnings = (t: TestApp) => t.logs.filter((l) => String(l.msg).startsWith(UNREACHABLE_WARNING));

describe.runIf(REDIS)('limits shared through Redis', () => {
  it('the Redis scripts answer exactly what the in-memory store answers, operation by operation', async () => {
    const redis = new RedisStore(REDIS);
    await redis.start();
    const prefix = newPrefix();
    const policy = {
      maxFailures: 2,
      pairWindowMs: 60_000,
      accountCeiling: 4,
      accountWindowMs: 120_000,
      baseDelayMs: 1000,
      maxDelayMs: 900_000,
    };
    const script = async (store: LimitStore, keyBase: string) => {
      const keys: SignInKeys = { pair: `${keyBase}p`, lock: `${keyBase}l`, account: `${keyBase}a` };
      const other: SignInKeys = { ...keys, pair: `${keyBase}p2`, lock: `${keyBase}l2` };
      const out: unknown[] = [];
      // Seconds, not milliseconds: the two stores' clocks differ by the round trip.
      const round = (r: { allowed: boolean; retryAfterMs?: number }) =>
        'retryAfterMs' in r ? { ...r, retryAfterMs: Math.ceil((r.retryAfterMs as number) / 1000) } : r;
      const hit = await store.hit(`${keyBase}h`, 60_000);
      out.push(hit.count, Math.ceil(hit.resetMs / 1000), (await store.hit(`${keyBase}h`, 60_000)).count);
      out.push(round(await store.reserve(keys, policy)));
      out.push(round(await store.reserve(keys, policy)));
      out.push(round(await store.reserve(keys, policy)));
      await store.release(keys, true);
      out.push(round(await store.reserve(keys, policy)));
      await store.succeed(keys);
      out.push(round(await store.reserve(keys, policy)));
      out.push(round(await store.reserve(other, policy)));
      out.push(round(await store.reserve(other, policy)));
      out.push(round(await store.reserve(other, policy)));
      return out;
    };
    try {
      const fromRedis = await script(redis, prefix);
      const fromMemory = await script(new MemoryStore(), prefix);
      expect(fromRedis).toEqual(fromMemory);
      expect(fromRedis).toEqual([
        1,
        60,
        2,
        { allowed: true, pairCount: 1, accountCount: 1 },
        { allowed: true, pairCount: 2, accountCount: 2 },
        { allowed: false, retryAfterMs: 1 },
        { allowed: true, pairCount: 2, accountCount: 2 },
        { allowed: true, pairCount: 1, accountCount: 2 },
        { allowed: true, pairCount: 1, accountCount: 3 },
        { allowed: true, pairCount: 2, accountCount: 4 },
        { allowed: false, retryAfterMs: 1 },
      ]);
    } finally {
      await redis.close();
    }
  });

  it('failures counted on instance A throttle the same guesser on instance B', async () => {
    const [a, b] = await twoInstances({ AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '5' });
    const user = await createUser(a.app);
    for (let i = 0; i < 3; i++) expect((await login(a, user.email, WRONG)).statusCode).toBe(401);
    for (let i = 0; i < 2; i++) expect((await login(b, user.email, WRONG)).statusCode).toBe(401);
    expectThrottled(await login(b, user.email, WRONG));
    expectThrottled(await login(a, user.email, user.password));
    // The owner elsewhere is not locked out, on either instance.
    expect((await login(b, user.email, user.password, '10.9.0.2')).statusCode).toBe(200);
  });

  it('a request flood split across instances meets one per-address budget', async () => {
    const [a, b] = await twoInstances({ AUTH_RATE_LIMIT_PER_MINUTE: '3' });
    expect((await login(a, uniqueEmail(), WRONG)).statusCode).toBe(401);
    expect((await login(b, uniqueEmail(), WRONG)).statusCode).toBe(401);
    expect((await login(a, uniqueEmail(), WRONG)).statusCode).toBe(401);
    expectThrottled(await login(b, uniqueEmail(), WRONG));
    expectThrottled(await login(a, uniqueEmail(), WRONG));
  });

  it('200 concurrent wrong passwords split over two instances run at most LOGIN_MAX_FAILURES Argon2 verifications', async () => {
    const [a, b] = await twoInstances({ AUTH_RATE_LIMIT_PER_MINUTE: '0', LOGIN_MAX_FAILURES: '5' });
    const user = await createUser(a.app);
    const onA = vi.spyOn(a.app.container.hasher, 'verify');
    const onB = vi.spyOn(b.app.container.hasher, 'verify');
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => login(i % 2 === 0 ? a : b, user.email, WRONG)),
    );
    const statuses = responses.map((r) => r.statusCode);
    const verifications = onA.mock.calls.length + onB.mock.calls.length;
    // Both instances counted in Redis throughout (a fallback would split the counts).
    expect([...warnings(a), ...warnings(b)]).toEqual([]);
    expect(verifications).toBe(5);
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(195);
    console.info(
      `[figures] 200 concurrent wrong passwords over two instances (Redis): ${verifications} Argon2 verifications (A ${onA.mock.calls.length}, B ${onB.mock.calls.length}), ${statuses.filter((s) => s === 429).length} x 429`,
    );
  });
});

/** A TCP relay to the Redis server that the test can cut and restore, as a network failure would. */
class Relay {
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  port = 0;

  async open(): Promise<void> {
    const server = createServer((client) => {
      const target = new URL(REDIS);
      const upstream = tcpConnect(Number(target.port || 6379), target.hostname);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.runIf(REDIS)('Redis unreachable', () => {
  it('an instance whose Redis is down still throttles (local counters, never open) and warns once', async () => {
    // Port 1: nothing listens there.
    const t = await createTestApp({
      env: { REDIS_URL: 'redis://127.0.0.1:1', AUTH_RATE_LIMIT_PER_MINUTE: '8', LOGIN_MAX_FAILURES: '5' },
    });
    apps.push(t);
    const user = await createUser(t.app);
    const verify = vi.spyOn(t.app.container.hasher, 'verify');
    const responses = await Promise.all(Array.from({ length: 20 }, () => login(t, user.email, WRONG)));
    expect(verify).toHaveBeenCalledTimes(5);
    expect(responses.filter((r) => r.statusCode === 429)).toHaveLength(15);
    // The per-address limit too.
    for (let i = 0; i < 8; i++)
      expect((await login(t, uniqueEmail(), WRONG, '10.9.1.1')).statusCode).toBe(401);
    expectThrottled(await login(t, uniqueEmail(), WRONG, '10.9.1.1'));
    expect(warnings(t)).toHaveLength(1);
    expect(warnings(t)[0]!.level).toBe(40);
  });

  it('falls back when Redis goes away mid-run and goes back to it when it returns', async () => {
    const relay = new Relay();
    await relay.open();
    const prefix = newPrefix();
    const t = await createTestApp({
      env: {
        REDIS_URL: `redis://127.0.0.1:${relay.port}`,
        REDIS_KEY_PREFIX: prefix,
        AUTH_RATE_LIMIT_PER_MINUTE: '0',
        LOGIN_MAX_FAILURES: '5',
      },
    });
    apps.push(t);
    const store = t.app.container.limits.store as RedisStore;
    expect(store).toBeInstanceOf(RedisStore);
    expect(store.shared).toBe(true);
    const user = await createUser(t.app);
    expect((await login(t, user.email, WRONG)).statusCode).toBe(401);
    expect((await admin.keys(`${prefix}*`)).length).toBeGreaterThan(0);

    await relay.cut();
    const other = await createUser(t.app);
    for (let i = 0; i < 5; i++) expect((await login(t, other.email, WRONG)).statusCode).toBe(401);
    expectThrottled(await login(t, other.email, WRONG));
    expect(warnings(t)).toHaveLength(1);

    await relay.open();
    await until(() => store.shared);
    const third = await createUser(t.app);
    const before = (await admin.keys(`${prefix}*`)).length;
    expect((await login(t, third.email, WRONG)).statusCode).toBe(401);
    expect((await admin.keys(`${prefix}*`)).length).toBeGreaterThan(before);
    expect(t.logs.some((l) => String(l.msg).startsWith('Redis answers again'))).toBe(true);
    expect(warnings(t)).toHaveLength(1);
    await relay.cut();
  });
});
