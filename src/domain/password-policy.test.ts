import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import {
  assertAcceptablePassword,
  normalizePassword,
  PASSWORD_MAX,
  PASSWORD_MIN,
} from './password-policy.js';

function refusal(password: string, path?: string): ValidationError {
  try {
    assertAcceptablePassword(password, path);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error(`accepted ${JSON.stringify(password)}`);
}

describe('assertAcceptablePassword', () => {
  it('takes 8 to 128 characters', () => {
    expect(PASSWORD_MIN).toBe(8);
    expect(PASSWORD_MAX).toBe(128);
    expect(() => assertAcceptablePassword('plumtree')).not.toThrow();
    expect(() => assertAcceptablePassword('q'.repeat(128))).not.toThrow();
    for (const password of ['', 'plumtre', 'q'.repeat(129)]) {
      const error = refusal(password);
      expect(error.code).toBe('validation_failed');
      expect(error.errors).toEqual([{ path: '/password', message: 'must be 8 to 128 characters' }]);
    }
  });

  it('counts code points, not UTF-16 units', () => {
    // 7 emoji are 14 UTF-16 units but 7 characters: too short.
    expect(refusal('🦊'.repeat(7)).code).toBe('validation_failed');
    expect(() => assertAcceptablePassword('🦊'.repeat(8))).not.toThrow();
    // 128 emoji are 256 UTF-16 units but 128 characters: allowed, never truncated.
    expect(() => assertAcceptablePassword('🦊'.repeat(128))).not.toThrow();
    expect(refusal('🦊'.repeat(129)).code).toBe('validation_failed');
  });

  it('accepts any Unicode and needs no composition rules', () => {
    for (const password of [
      'correct horse battery',
      'пароль-надёжный',
      '密码密码密码密码',
      '        spaces!',
    ]) {
      expect(() => assertAcceptablePassword(password)).not.toThrow();
    }
  });

  it('refuses the most common passwords with password.too_common', () => {
    for (const password of ['password', '12345678', 'baseball', 'football']) {
      const error = refusal(password, '/newPassword');
      expect(error.code).toBe('password.too_common');
      expect(error.errors).toEqual([
        { path: '/newPassword', message: 'is one of the most common passwords' },
      ]);
    }
  });

  it('matches the common list case-insensitively', () => {
    expect(refusal('PASSWORD').code).toBe('password.too_common');
    expect(refusal('FootBall').code).toBe('password.too_common');
  });

  it('matches the common list after NFKC normalisation', () => {
    // Full-width letters are NFKC-equivalent to "password".
    expect(refusal('ｐａｓｓｗｏｒｄ').code).toBe('password.too_common');
  });

  it('measures the normalised password', () => {
    // U+FB03 (ﬃ) is one code point that NFKC turns into "ffi": 3 of them make 9 characters.
    expect(() => assertAcceptablePassword('\ufb03\ufb03\ufb03')).not.toThrow();
  });
});

describe('normalizePassword', () => {
  it('makes composed and decomposed accents the same password', () => {
    expect(normalizePassword('caf\u00e9-latte')).toBe(normalizePassword('cafe\u0301-latte'));
  });

  it('changes nothing else: no trimming, no case folding', () => {
    expect(normalizePassword('  MiXeD case  ')).toBe('  MiXeD case  ');
  });
});
