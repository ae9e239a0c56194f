import { readFileSync } from 'node:fs';
import { ValidationError } from './errors.js';

// `assets/` sits two levels above both src/domain and dist/domain.
const COMMON = new Set(
  readFileSync(new URL('../../assets/common-passwords.txt', import.meta.url), 'utf8')
    .split('\n')
    .filter(Boolean),
);

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

/**
 * Passwords are NFKC-normalised before hashing and verifying, so the same password typed on two
 * keyboards (composed vs decomposed accents) matches. Nothing else is changed: no trimming, no
 * case folding, no truncation.
 */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/**
 * NIST 800-63B rules for a new password: length in characters (code points), no composition
 * rules, and refused when it is one of the most common passwords.
 */
export function assertAcceptablePassword(password: string, path = '/password'): void {
  const normalized = normalizePassword(password);
  const length = [...normalized].length;
  if (length < PASSWORD_MIN || length > PASSWORD_MAX) {
    throw new ValidationError(`Password must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`, [
      { path, message: `must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters` },
    ]);
  }
  if (COMMON.has(normalized.toLowerCase())) {
    throw new ValidationError(
      'This password is too common; choose another',
      [{ path, message: 'is one of the most common passwords' }],
      'password.too_common',
    );
  }
}
