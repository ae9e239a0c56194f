import { describe, expect, it } from 'vitest';
import { constantTimeEqual, randomToken, SecretBox, sha256 } from './secrets.js';

const KEY = 'a-secret-key-that-is-long-enough-for-tests';

describe('randomToken', () => {
  it('is base64url text of the requested number of random bytes', () => {
    expect(randomToken()).toMatch(/^[\w-]{43}$/);
    expect(Buffer.from(randomToken(), 'base64url')).toHaveLength(32);
    expect(randomToken(48)).toMatch(/^[\w-]{64}$/);
    expect(Buffer.from(randomToken(20), 'base64url')).toHaveLength(20);
  });

  it('never repeats', () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => randomToken(16)));
    expect(tokens.size).toBe(1000);
  });
});

describe('sha256', () => {
  it('is the base64url SHA-256 digest', () => {
    expect(sha256('')).toBe('47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU');
    expect(sha256('abc')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
    expect(Buffer.from(sha256(randomToken()), 'base64url')).toHaveLength(32);
  });

  it('hashes text as UTF-8', () => {
    expect(sha256('é')).not.toBe(sha256('e\u0301'));
    expect(sha256('é')).toBe(sha256('\u00e9'));
  });
});

describe('constantTimeEqual', () => {
  it('compares exactly', () => {
    expect(constantTimeEqual('token', 'token')).toBe(true);
    expect(constantTimeEqual('', '')).toBe(true);
    expect(constantTimeEqual('token', 'tokem')).toBe(false);
    expect(constantTimeEqual('token', 'Token')).toBe(false);
  });

  it('answers false for different lengths instead of throwing', () => {
    expect(constantTimeEqual('token', 'token-longer')).toBe(false);
    expect(constantTimeEqual('', 'x')).toBe(false);
    // Same number of UTF-16 units, different number of bytes.
    expect(constantTimeEqual('é', 'e')).toBe(false);
    expect(constantTimeEqual('日本', '日本')).toBe(true);
  });
});

describe('SecretBox', () => {
  const box = new SecretBox(KEY, 'totp');

  it('round-trips any text', () => {
    for (const text of ['', 'JBSWY3DPEHPK3PXP', '日本語 ✓ 🎉', 'x'.repeat(10_000)]) {
      expect(box.decrypt(box.encrypt(text))).toBe(text);
    }
  });

  it('seals as v1.<iv>.<tag>.<ciphertext> with a fresh IV every time', () => {
    const a = box.encrypt('same');
    const b = box.encrypt('same');
    expect(a).not.toBe(b);
    const [version, iv, tag, data] = a.split('.');
    expect(version).toBe('v1');
    expect(Buffer.from(iv!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(tag!, 'base64url')).toHaveLength(16);
    expect(Buffer.from(data!, 'base64url')).toHaveLength(4);
    expect(a).not.toContain('same');
  });

  it('decrypts with a new box built from the same key and purpose (another instance, a restart)', () => {
    expect(new SecretBox(KEY, 'totp').decrypt(box.encrypt('shared'))).toBe('shared');
  });

  it('refuses a box of another purpose, or of another key', () => {
    const sealed = box.encrypt('secret');
    expect(() => new SecretBox(KEY, 'signing-keys').decrypt(sealed)).toThrow();
    expect(() => new SecretBox(`${KEY}!`, 'totp').decrypt(sealed)).toThrow();
  });

  it('detects tampering with the ciphertext, the IV or the tag', () => {
    const sealed = box.encrypt('attack at dawn');
    const [version, iv, tag, data] = sealed.split('.') as [string, string, string, string];
    const flip = (part: string) => {
      const bytes = Buffer.from(part, 'base64url');
      bytes[0] = (bytes[0] ?? 0) ^ 1;
      return bytes.toString('base64url');
    };
    expect(() => box.decrypt([version, iv, tag, flip(data)].join('.'))).toThrow();
    expect(() => box.decrypt([version, flip(iv), tag, data].join('.'))).toThrow();
    expect(() => box.decrypt([version, iv, flip(tag), data].join('.'))).toThrow();
  });

  it('refuses a truncated authentication tag (GCM accepts short tags unless told their length)', () => {
    const [version, iv, tag, data] = box.encrypt('attack at dawn').split('.') as [
      string,
      string,
      string,
      string,
    ];
    for (const length of [4, 8, 12, 15]) {
      const short = Buffer.from(tag, 'base64url').subarray(0, length).toString('base64url');
      expect(() => box.decrypt([version, iv, short, data].join('.'))).toThrow();
    }
  });

  it.each(['', 'plain text', 'v2.a.b.c', 'v1.only-two', 'v1..tag.data', 'v1.iv..data'])(
    'refuses the malformed value %j',
    (sealed) => {
      expect(() => box.decrypt(sealed)).toThrow();
    },
  );
});
