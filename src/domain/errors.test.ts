import { describe, expect, it } from 'vitest';
import { addSeconds, systemClock } from './clock.js';
import {
  AppError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  NotReadyError,
  RateLimitedError,
  UnauthenticatedError,
  ValidationError,
} from './errors.js';

describe('domain errors', () => {
  it('carry a stable code, a message and their class name', () => {
    const cases: Array<[AppError, string, string]> = [
      [new ValidationError('bad'), 'validation_failed', 'ValidationError'],
      [new ValidationError('weak', [], 'password.too_common'), 'password.too_common', 'ValidationError'],
      [new UnauthenticatedError(), 'unauthenticated', 'UnauthenticatedError'],
      [new UnauthenticatedError('token_expired', 'expired'), 'token_expired', 'UnauthenticatedError'],
      [new ForbiddenError(), 'forbidden', 'ForbiddenError'],
      [new NotFoundError(), 'not_found', 'NotFoundError'],
      [new ConflictError('user.email_taken', 'taken'), 'user.email_taken', 'ConflictError'],
      [new RateLimitedError(30), 'rate_limited', 'RateLimitedError'],
      [new NotReadyError(), 'not_ready', 'NotReadyError'],
    ];
    for (const [error, code, name] of cases) {
      expect(error).toBeInstanceOf(AppError);
      expect(error).toBeInstanceOf(Error);
      expect(error.code).toBe(code);
      expect(error.name).toBe(name);
      expect(error.message).not.toBe('');
    }
  });

  it('ValidationError keeps its field errors; RateLimitedError its delay', () => {
    expect(new ValidationError('bad', [{ path: '/email', message: 'is invalid' }]).errors).toEqual([
      { path: '/email', message: 'is invalid' },
    ]);
    expect(new ValidationError('bad').errors).toEqual([]);
    expect(new RateLimitedError(42).retryAfterSeconds).toBe(42);
  });
});

describe('clock', () => {
  it('addSeconds moves a date without changing it', () => {
    const start = new Date('2026-11-25T10:00:00.000Z');
    expect(addSeconds(start, 90).toISOString()).toBe('2026-11-25T10:01:30.000Z');
    expect(addSeconds(start, -1).toISOString()).toBe('2026-11-25T09:59:59.000Z');
    expect(start.toISOString()).toBe('2026-11-25T10:00:00.000Z');
  });

  it('systemClock tells the real time', () => {
    const before = Date.now();
    const now = systemClock.now().getTime();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });
});
