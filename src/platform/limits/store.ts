import type { Clock } from '../../domain/clock.js';

/** A counter in a fixed window: its count after the hit, and the milliseconds until the window ends. */
export interface Hit {
  count: number;
  resetMs: number;
}

/** The keys and figures of one sign-in reservation; `reserve` checks and counts them in one step. */
export interface SignInKeys {
  /** Failures of one (account, address) pair in its window. */
  pair: string;
  /** Set while the pair must wait (the growing delay); its expiry is the wait. */
  lock: string;
  /** Failures of one account from every address in its window. */
  account: string;
}

export interface SignInPolicy {
  maxFailures: number;
  pairWindowMs: number;
  accountCeiling: number;
  accountWindowMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export type Reservation =
  | { allowed: true; pairCount: number; accountCount: number }
  | { allowed: false; retryAfterMs: number };

/**
 * Where the counters live. Every operation is atomic: of any number of concurrent calls, each sees
 * the count the previous one left (a check and its increment are one step, never two).
 */
export interface LimitStore {
  /** Counts one hit on `key`, opening a window of `windowMs` when none is open. */
  hit(key: string, windowMs: number): Promise<Hit>;
  /**
   * Reserves one sign-in attempt, counted as a failure until told otherwise: refused while the pair
   * waits or the account is at its ceiling; otherwise counts it on the pair and the account and,
   * from the `maxFailures`-th, makes the pair wait `baseDelayMs · 2^(count - maxFailures)` (capped).
   */
  reserve(keys: SignInKeys, policy: SignInPolicy): Promise<Reservation>;
  /** A reserved attempt succeeded: the pair starts afresh; the account gives its reservation back. */
  succeed(keys: SignInKeys): Promise<void>;
  /**
   * Gives a reservation back without clearing earlier failures (the password was right, a second
   * factor is due); `dropWait` when this reservation is the one that made the pair wait.
   */
  release(keys: SignInKeys, dropWait: boolean): Promise<void>;
  close(): Promise<void>;
}

interface Entry {
  count: number;
  expiresAt: number;
}

const SWEEP_EVERY = 1000;

/**
 * Counters in this process's memory: exact for one instance, and what every instance falls back to
 * when the shared store is away. Each operation runs synchronously, so it is atomic by construction.
 */
export class MemoryStore implements LimitStore {
  readonly #entries = new Map<string, Entry>();
  #operations = 0;

  constructor(private readonly clock: Clock = { now: () => new Date() }) {}

  async hit(key: string, windowMs: number): Promise<Hit> {
    const now = this.#now();
    const entry = this.#increment(key, windowMs, now);
    return { count: entry.count, resetMs: entry.expiresAt - now };
  }

  async reserve(keys: SignInKeys, policy: SignInPolicy): Promise<Reservation> {
    const now = this.#now();
    const lock = this.#live(keys.lock, now);
    if (lock) return { allowed: false, retryAfterMs: lock.expiresAt - now };
    const account = this.#live(keys.account, now);
    if (account && account.count >= policy.accountCeiling)
      return { allowed: false, retryAfterMs: account.expiresAt - now };
    const pair = this.#increment(keys.pair, policy.pairWindowMs, now);
    const accountCount = this.#increment(keys.account, policy.accountWindowMs, now).count;
    if (pair.count >= policy.maxFailures) {
      this.#entries.set(keys.lock, { count: 1, expiresAt: now + delayMs(pair.count, policy) });
    }
    return { allowed: true, pairCount: pair.count, accountCount };
  }

  async succeed(keys: SignInKeys): Promise<void> {
    this.#entries.delete(keys.pair);
    this.#entries.delete(keys.lock);
    this.#decrement(keys.account);
  }

  async release(keys: SignInKeys, dropWait: boolean): Promise<void> {
    if (dropWait) this.#entries.delete(keys.lock);
    this.#decrement(keys.pair);
    this.#decrement(keys.account);
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }

  /** How many counters are held (tests). */
  get size(): number {
    return this.#entries.size;
  }

  #now(): number {
    if (++this.#operations % SWEEP_EVERY === 0) this.#sweep();
    return this.clock.now().getTime();
  }

  #live(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #increment(key: string, windowMs: number, now: number): Entry {
    let entry = this.#live(key, now);
    if (!entry) {
      entry = { count: 0, expiresAt: now + windowMs };
      this.#entries.set(key, entry);
    }
    entry.count++;
    return entry;
  }

  #decrement(key: string): void {
    const entry = this.#live(key, this.clock.now().getTime());
    if (entry && entry.count > 0) entry.count--;
  }

  /** Drops expired counters. Live ones are never dropped: forgetting a count would fail open. */
  #sweep(): void {
    const now = this.clock.now().getTime();
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key);
  }
}

/** The wait after the `count`-th failure of a pair: 1 s, 2 s, 4 s, ... from the limit on, capped. */
export function delayMs(count: number, policy: SignInPolicy): number {
  const exponent = Math.min(count - policy.maxFailures, 30);
  return Math.min(policy.baseDelayMs * 2 ** exponent, policy.maxDelayMs);
}
