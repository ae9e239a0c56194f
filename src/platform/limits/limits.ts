import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { Clock } from '../../domain/clock.js';
import { RateLimitedError } from '../../domain/errors.js';
import { type LimitsLogger, RedisStore, silentLogger } from './redis-store.js';
import { type LimitStore, MemoryStore, type SignInKeys, type SignInPolicy } from './store.js';

/** Per-address budgets of single flows, on top of the per-route limit on `/v1/auth/*`. */
export const ADDRESS_BUDGETS = {
  /** Account creation (with or without an invitation). */
  register: { limit: 10, windowMs: 10 * 60_000 },
  /** Password reset mails asked for, whatever the address. */
  forgot: { limit: 10, windowMs: 15 * 60_000 },
  /** Verification mails asked for (the per-account limit of three an hour applies too). */
  resend: { limit: 10, windowMs: 60 * 60_000 },
} as const;

export type AddressBudget = keyof typeof ADDRESS_BUDGETS;

/** Sign-in failures: per (account, address) pair, then a ceiling per account from everywhere. */
export const SIGN_IN = {
  pairWindowMs: 15 * 60_000,
  accountCeiling: 100,
  accountWindowMs: 60 * 60_000,
  baseDelayMs: 1000,
  maxDelayMs: 15 * 60_000,
} as const;

/**
 * Whose sign-in this is: the user's id when the account exists, the normalised email otherwise.
 * Password and second-factor attempts of one user share one budget through the user id.
 */
export type SignInAccount = { userId: string } | { email: string };

export interface LockoutEvent {
  /** `pair`: this account from this address; `account`: the account from every address. */
  scope: 'pair' | 'account';
  account: SignInAccount;
  ip: string;
}

/** One reserved attempt: it counts as a failure unless `succeeded` or `release` says otherwise. */
export interface SignInAttempt {
  /** The credential was wrong. Reports a lock-out when this failure reached a limit. */
  failed(): Promise<void>;
  /** Signed in: the pair's failures and wait are cleared, the account's count gives this one back. */
  succeeded(): Promise<void>;
  /** The credential was right but another factor is due: uncount this attempt, clear nothing. */
  release(): Promise<void>;
}

export interface LimitsOptions {
  /** AUTH_RATE_LIMIT_PER_MINUTE: requests per address per route on `/v1/auth/*`; 0 turns every per-address limit off. */
  authPerMinute: number;
  /** LOGIN_MAX_FAILURES: failures per (account, address) per 15 minutes before the delays; 0 turns sign-in limits off. */
  loginMaxFailures: number;
  redisUrl?: string | undefined;
  /** Prefix of every key in Redis, so several deployments (or test runs) can share one server. */
  keyPrefix?: string;
  clock?: Clock;
  /** The per-account ceiling; tests lower it. */
  accountCeiling?: number;
}

const noop = async () => {};
const unlimitedAttempt: SignInAttempt = { failed: noop, succeeded: noop, release: noop };

const digest = (value: string) => createHash('sha256').update(value).digest('base64url').slice(0, 22);

/**
 * The address a limit counts: IPv4 as is, IPv6 by its /64 (one subscriber's whole block, which an
 * attacker could otherwise walk through), an IPv4-mapped IPv6 address as the IPv4 one.
 */
export function addressKey(ip: string | null | undefined): string {
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * Abuse limits: per-address request budgets and sign-in failure budgets, counted atomically in a
 * shared store (Redis when REDIS_URL is set, this process's memory otherwise). Every refusal is a
 * RateLimitedError (429 with Retry-After) that says nothing about the account.
 */
export class Limits {
  /** Called when a pair or an account first reaches its limit (the audit log records a lock-out). */
  onLockout: (event: LockoutEvent) => void | Promise<void> = (event) =>
    this.#log.warn(
      { scope: event.scope, ip: event.ip, userId: 'userId' in event.account ? event.account.userId : null },
      'sign-in lock-out',
    );
  #log: LimitsLogger = silentLogger;
  readonly #policy: SignInPolicy;
  readonly #prefix: string;

  constructor(
    readonly store: LimitStore,
    private readonly options: LimitsOptions,
  ) {
    this.#prefix = options.keyPrefix ?? 'tessera:';
    this.#policy = {
      ...SIGN_IN,
      maxFailures: options.loginMaxFailures,
      accountCeiling: options.accountCeiling ?? SIGN_IN.accountCeiling,
    };
  }

  static async create(options: LimitsOptions): Promise<Limits> {
    if (!options.redisUrl) return new Limits(new MemoryStore(options.clock), options);
    const store = new RedisStore(options.redisUrl, options.clock);
    await store.start();
    return new Limits(store, options);
  }

  get addressLimitsOn(): boolean {
    return this.options.authPerMinute > 0;
  }

  useLogger(log: LimitsLogger): void {
    this.#log = log;
    if (this.store instanceof RedisStore) this.store.log = log;
  }

  /**
   * Counts a request to a `/v1/auth` route (its route pattern, so spellings of one path share a bucket).
   * @throws RateLimitedError past AUTH_RATE_LIMIT_PER_MINUTE
   */
  async hitRoute(route: string, ip: string | null | undefined): Promise<void> {
    if (!this.addressLimitsOn) return;
    await this.#hit(`route:${addressKey(ip)}:${route}`, this.options.authPerMinute, 60_000);
  }

  /** @throws RateLimitedError past the flow's ADDRESS_BUDGETS entry */
  async hitAddress(budget: AddressBudget, ip: string | null | undefined): Promise<void> {
    if (!this.addressLimitsOn) return;
    const { limit, windowMs } = ADDRESS_BUDGETS[budget];
    await this.#hit(`flow:${budget}:${addressKey(ip)}`, limit, windowMs);
  }

  /**
   * Reserves a sign-in attempt before the credential is checked (increment, then check: concurrent
   * attempts cannot all pass a check that none has counted yet). Call it the same way for unknown
   * accounts (by email) as for known ones, so a refusal looks the same.
   * @throws RateLimitedError while the pair waits or the account is at its ceiling
   */
  async reserveSignInAttempt(account: SignInAccount, ip: string | null | undefined): Promise<SignInAttempt> {
    if (this.options.loginMaxFailures <= 0) return unlimitedAttempt;
    const address = addressKey(ip);
    const id = digest('userId' in account ? `user:${account.userId}` : `email:${account.email}`);
    // One hash tag per account keeps the three keys in one slot of a Redis Cluster.
    const base = `${this.#prefix}signin:{${id}}`;
    const keys: SignInKeys = {
      pair: `${base}:pair:${address}`,
      lock: `${base}:wait:${address}`,
      account: `${base}:all`,
    };
    const reservation = await this.store.reserve(keys, this.#policy);
    if (!reservation.allowed) throw new RateLimitedError(seconds(reservation.retryAfterMs));
    const { pairCount, accountCount } = reservation;
    return {
      failed: async () => {
        if (pairCount === this.#policy.maxFailures)
          await this.#lockout({ scope: 'pair', account, ip: address });
        if (accountCount === this.#policy.accountCeiling)
          await this.#lockout({ scope: 'account', account, ip: address });
      },
      succeeded: () => this.store.succeed(keys),
      // Any attempt after one that set the wait was refused, so dropping that wait lets nothing extra in.
      release: () => this.store.release(keys, pairCount >= this.#policy.maxFailures),
    };
  }

  close(): Promise<void> {
    return this.store.close();
  }

  async #hit(key: string, limit: number, windowMs: number): Promise<void> {
    const { count, resetMs } = await this.store.hit(`${this.#prefix}${key}`, windowMs);
    if (count > limit) throw new RateLimitedError(seconds(resetMs));
  }

  async #lockout(event: LockoutEvent): Promise<void> {
    try {
      await this.onLockout(event);
    } catch (error) {
      this.#log.warn({ err: error }, 'lock-out listener failed');
    }
  }
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * The sign-in limits as before/failed/succeeded hooks around one attempt object (the MFA module's
 * seam): `before` reserves, the other two settle that reservation. An attempt that ends in neither
 * (an expired mfaToken, say) stays counted as a failure.
 */
export function signInAttemptHooks<T extends { userId: string; ip: string | null }>(limits: Limits) {
  const pending = new WeakMap<T, SignInAttempt>();
  return {
    before: async (attempt: T) => {
      pending.set(attempt, await limits.reserveSignInAttempt({ userId: attempt.userId }, attempt.ip));
    },
    failed: async (attempt: T) => {
      await pending.get(attempt)?.failed();
      pending.delete(attempt);
    },
    succeeded: async (attempt: T) => {
      await pending.get(attempt)?.succeeded();
      pending.delete(attempt);
    },
  };
}
