import { describe, expect, it } from 'vitest';
import { TestClock } from '../../../test/app.js';
import { RateLimitedError } from '../../domain/errors.js';
import { normalisePath } from './http.js';
import { addressKey, Limits, SIGN_IN, signInAttemptHooks } from './limits.js';
import { delayMs, MemoryStore } from './store.js';

describe('normalisePath', () => {
  it.each([
    ['/v1/auth/login', '/v1/auth/login'],
    ['//v1/auth/login', '/v1/auth/login'],
    ['/v1/auth/login/', '/v1/auth/login'],
    ['/V1/Auth/Login', '/v1/auth/login'],
    ['/v1/auth/%6Cogin', '/v1/auth/login'],
    ['/v1/auth/login;jsessionid=1', '/v1/auth/login'],
    ['/v1/auth/login?x=1', '/v1/auth/login'],
    ['/v1/auth/./login', '/v1/auth/login'],
    ['/v1/auth/x/../login', '/v1/auth/login'],
    ['/v1\\auth\\login', '/v1/auth/login'],
    ['/v1%2Fauth%2Flogin', '/v1/auth/login'],
    ['/v1/auth/%zz', '/v1/auth/%zz'],
    ['/', '/'],
  ])('%s is %s', (input, expected) => {
    expect(normalisePath(input)).toBe(expected);
  });
});

describe('addressKey', () => {
  it('keeps IPv4, unwraps IPv4-mapped IPv6 and counts IPv6 by its /64', () => {
    expect(addressKey('203.0.113.9')).toBe('203.0.113.9');
    expect(addressKey('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey(null)).toBe('unknown');
  });
});

describe('delays', () => {
  it('double from 1 s at the limit and stop at 15 minutes', () => {
    const policy = { ...SIGN_IN, maxFailures: 5 };
    expect([5, 6, 7, 8].map((n) => delayMs(n, policy))).toEqual([1000, 2000, 4000, 8000]);
    expect(delayMs(15, policy)).toBe(15 * 60_000);
    expect(delayMs(10_000, policy)).toBe(15 * 60_000);
  });
});

describe('MemoryStore', () => {
  it('counts in a fixed window that ends on the clock', async () => {
    const clock = new TestClock();
    const store = new MemoryStore(clock);
    expect(await store.hit('k', 60_000)).toEqual({ count: 1, resetMs: 60_000 });
    clock.advance(30);
    expect(await store.hit('k', 60_000)).toEqual({ count: 2, resetMs: 30_000 });
    clock.advance(30);
    expect(await store.hit('k', 60_000)).toEqual({ count: 1, resetMs: 60_000 });
  });

  it('forgets expired counters, never live ones', async () => {
    const clock = new TestClock();
    const store = new MemoryStore(clock);
    for (let i = 0; i < 999; i++) await store.hit(`old-${i}`, 1000);
    clock.advance(2);
    await store.hit('live', 60_000);
    expect(store.size).toBe(1);
  });
});

describe('Limits', () => {
  const limitsWith = (clock: TestClock, accountCeiling?: number) =>
    new Limits(new MemoryStore(clock), {
      authPerMinute: 2,
      loginMaxFailures: 3,
      clock,
      ...(accountCeiling ? { accountCeiling } : {}),
    });

  it('refuses with a RateLimitedError whose Retry-After is the wait in whole seconds', async () => {
    const clock = new TestClock();
    const limits = limitsWith(clock);
    await limits.hitRoute('/v1/auth/login', '10.0.0.1');
    await limits.hitRoute('/v1/auth/login', '10.0.0.1');
    clock.advance(59.5);
    const error = await limits.hitRoute('/v1/auth/login', '10.0.0.1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterSeconds).toBe(1);
  });

  it('a right password that still needs a second factor gives its reservation back but clears nothing', async () => {
    const clock = new TestClock();
    const limits = limitsWith(clock);
    const account = { userId: 'u1' };
    for (let i = 0; i < 2; i++) await (await limits.reserveSignInAttempt(account, '10.0.0.1')).failed();
    // Restarting the sign-in with the right password does not reset the two failures...
    await (await limits.reserveSignInAttempt(account, '10.0.0.1')).release();
    // ...so the next wrong second factor reaches the limit of three.
    await (await limits.reserveSignInAttempt(account, '10.0.0.1')).failed();
    await expect(limits.reserveSignInAttempt(account, '10.0.0.1')).rejects.toBeInstanceOf(RateLimitedError);
  });

  it('the MFA hooks spend the sign-in budget of the user', async () => {
    const clock = new TestClock();
    const limits = limitsWith(clock);
    const hooks = signInAttemptHooks(limits);
    for (let i = 0; i < 3; i++) {
      const attempt = { userId: 'u2', ip: '10.0.0.2' };
      await hooks.before(attempt);
      await hooks.failed(attempt);
    }
    await expect(hooks.before({ userId: 'u2', ip: '10.0.0.2' })).rejects.toBeInstanceOf(RateLimitedError);
    await expect(limits.reserveSignInAttempt({ userId: 'u2' }, '10.0.0.2')).rejects.toBeInstanceOf(
      RateLimitedError,
    );
    clock.advance(1);
    const attempt = { userId: 'u2', ip: '10.0.0.2' };
    await hooks.before(attempt);
    await hooks.succeeded(attempt);
    await hooks.before({ userId: 'u2', ip: '10.0.0.2' });
  });

  it('a failing lock-out listener is logged, not thrown into the sign-in', async () => {
    const clock = new TestClock();
    const limits = limitsWith(clock);
    const warned: string[] = [];
    limits.useLogger({ warn: (_o, message) => warned.push(message), info: () => {} });
    limits.onLockout = () => {
      throw new Error('audit down');
    };
    for (let i = 0; i < 3; i++)
      await (await limits.reserveSignInAttempt({ email: 'a@b.test' }, '10.0.0.3')).failed();
    expect(warned).toEqual(['lock-out listener failed']);
  });
});
