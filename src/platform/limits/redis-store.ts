import { Redis } from 'ioredis';
import type { Clock } from '../../domain/clock.js';
import {
  type Hit,
  type LimitStore,
  MemoryStore,
  type Reservation,
  type SignInKeys,
  type SignInPolicy,
} from './store.js';

export interface LimitsLogger {
  warn(object: object, message: string): void;
  info(object: object, message: string): void;
}

export const silentLogger: LimitsLogger = { warn: () => {}, info: () => {} };

// Each script runs atomically in Redis: no other command sees its keys half-updated.
const HIT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}`;

const RESERVE = `
local lockTtl = redis.call('PTTL', KEYS[2])
if lockTtl > 0 then return {0, lockTtl} end
local account = tonumber(redis.call('GET', KEYS[3]) or '0')
if account >= tonumber(ARGV[3]) then
  local ttl = redis.call('PTTL', KEYS[3])
  if ttl < 0 then ttl = tonumber(ARGV[4]) end
  return {0, ttl}
end
local pair = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
account = redis.call('INCR', KEYS[3])
if redis.call('PTTL', KEYS[3]) < 0 then redis.call('PEXPIRE', KEYS[3], ARGV[4]) end
local max = tonumber(ARGV[1])
if pair >= max then
  local delay = math.min(tonumber(ARGV[5]) * 2 ^ math.min(pair - max, 30), tonumber(ARGV[6]))
  redis.call('SET', KEYS[2], '1', 'PX', math.floor(delay))
end
return {1, pair, account}`;

const SUCCEED = `
redis.call('DEL', KEYS[1], KEYS[2])
if tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then redis.call('DECR', KEYS[3]) end
return 1`;

const RELEASE = `
if ARGV[1] == '1' then redis.call('DEL', KEYS[2]) end
for _, key in ipairs({KEYS[1], KEYS[3]}) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 1`;

type Args = Array<string | number>;
interface Scripts {
  tesseraHit(key: string, windowMs: number): Promise<[number, number]>;
  tesseraReserve(...args: Args): Promise<number[]>;
  tesseraSucceed(...args: Args): Promise<number>;
  tesseraRelease(...args: Args): Promise<number>;
}

const signInKeys = (keys: SignInKeys) => [keys.pair, keys.lock, keys.account];

/**
 * Counters shared by every instance through Redis (one Lua script per operation, so each is atomic).
 * When Redis cannot be reached, each instance counts in its own memory instead (never lets a request
 * through uncounted), warns once per outage, and goes back to Redis as soon as it answers again.
 */
export class RedisStore implements LimitStore {
  readonly #client: Redis;
  readonly #scripts: Scripts;
  readonly #local: MemoryStore;
  #degraded = false;
  #lastError: unknown;
  /** While degraded, Redis is tried again from this time on (a hung server costs one timeout a second). */
  #retryAt = 0;
  log: LimitsLogger = silentLogger;

  constructor(url: string, clock?: Clock) {
    this.#local = new MemoryStore(clock);
    this.#client = new Redis(url, {
      lazyConnect: true,
      // A command while disconnected fails at once (and is counted locally) instead of queueing.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // Generous: a busy event loop reads replies late, and a false alarm splits the counts.
      commandTimeout: 2000,
      connectTimeout: 1000,
      retryStrategy: (times) => Math.min(times * 100, 1000),
    });
    // Without a listener ioredis prints every connection error; the fallback reports it once instead.
    this.#client.on('error', (error: unknown) => {
      this.#lastError = error;
    });
    this.#client.on('ready', () => this.#restored());
    this.#client.defineCommand('tesseraHit', { numberOfKeys: 1, lua: HIT });
    this.#client.defineCommand('tesseraReserve', { numberOfKeys: 3, lua: RESERVE });
    this.#client.defineCommand('tesseraSucceed', { numberOfKeys: 3, lua: SUCCEED });
    this.#client.defineCommand('tesseraRelease', { numberOfKeys: 3, lua: RELEASE });
    this.#scripts = this.#client as unknown as Scripts;
  }

  /** Connects, waiting at most `timeoutMs`; when Redis is away the store starts on local counters. */
  async start(timeoutMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#client.connect().catch((error: unknown) => {
        this.#lastError = error;
      }),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Whether the last operation went to Redis. */
  get shared(): boolean {
    return !this.#degraded && this.#client.status === 'ready';
  }

  hit(key: string, windowMs: number): Promise<Hit> {
    return this.#run(
      async () => {
        const [count, resetMs] = await this.#scripts.tesseraHit(key, windowMs);
        return { count: Number(count), resetMs: Number(resetMs) };
      },
      () => this.#local.hit(key, windowMs),
    );
  }

  reserve(keys: SignInKeys, policy: SignInPolicy): Promise<Reservation> {
    return this.#run(
      async () => {
        const result = await this.#scripts.tesseraReserve(
          ...signInKeys(keys),
          policy.maxFailures,
          policy.pairWindowMs,
          policy.accountCeiling,
          policy.accountWindowMs,
          policy.baseDelayMs,
          policy.maxDelayMs,
        );
        return Number(result[0]) === 1
          ? { allowed: true, pairCount: Number(result[1]), accountCount: Number(result[2]) }
          : { allowed: false, retryAfterMs: Number(result[1]) };
      },
      () => this.#local.reserve(keys, policy),
    );
  }

  succeed(keys: SignInKeys): Promise<void> {
    return this.#run(
      async () => {
        await this.#scripts.tesseraSucceed(...signInKeys(keys));
      },
      () => this.#local.succeed(keys),
    );
  }

  release(keys: SignInKeys, dropWait: boolean): Promise<void> {
    return this.#run(
      async () => {
        await this.#scripts.tesseraRelease(...signInKeys(keys), dropWait ? 1 : 0);
      },
      () => this.#local.release(keys, dropWait),
    );
  }

  async close(): Promise<void> {
    this.#client.disconnect();
    await this.#local.close();
  }

  async #run<T>(remote: () => Promise<T>, local: () => Promise<T>): Promise<T> {
    if (this.#client.status === 'ready' && (!this.#degraded || Date.now() >= this.#retryAt)) {
      try {
        const result = await remote();
        this.#restored();
        return result;
      } catch (error) {
        this.#fallBack(error);
      }
    } else {
      this.#fallBack(this.#lastError);
    }
    return local();
  }

  #fallBack(error: unknown): void {
    this.#retryAt = Date.now() + 1000;
    if (this.#degraded) return;
    this.#degraded = true;
    this.log.warn(
      { err: error instanceof Error ? error : undefined, redisStatus: this.#client.status },
      'Redis is unreachable: rate limits are counted by this instance alone until it answers again',
    );
  }

  #restored(): void {
    if (!this.#degraded) return;
    this.#degraded = false;
    this.log.info({}, 'Redis answers again: rate limits are shared between instances again');
  }
}
