import { describe, expect, it } from 'vitest';
import { apiKeyPrefix, generateApiKey, isWellFormedApiKey, scopePermissions } from './api-keys.js';
import { SYSTEM_PERMISSIONS } from './permissions.js';

describe('API key format', () => {
  it('is tsk_ + 28 base62 random characters (> 160 bits) + a 6-character checksum', () => {
    const key = generateApiKey();
    expect(key).toMatch(/^tsk_[0-9A-Za-z]{34}$/);
    expect(28 * Math.log2(62)).toBeGreaterThan(160);
    expect(isWellFormedApiKey(key)).toBe(true);
    expect(apiKeyPrefix(key)).toBe(key.slice(0, 12));
  });

  it('never repeats', () => {
    expect(new Set(Array.from({ length: 2000 }, generateApiKey)).size).toBe(2000);
  });

  it('recognises a typo offline: any changed character fails the checksum', () => {
    const key = generateApiKey();
    for (let i = 4; i < key.length; i++) {
      const changed = key[i] === 'a' ? 'b' : 'a';
      expect(isWellFormedApiKey(key.slice(0, i) + changed + key.slice(i + 1)), `position ${i}`).toBe(false);
    }
  });

  it('refuses other shapes', () => {
    const key = generateApiKey();
    for (const bad of [
      '',
      'tsk_',
      key.slice(0, -1),
      `${key}x`,
      `tsx_${key.slice(4)}`,
      ` ${key}`,
      key.toUpperCase(),
    ])
      expect(isWellFormedApiKey(bad), bad).toBe(false);
  });
});

describe('scopePermissions', () => {
  const catalogue = [...Object.keys(SYSTEM_PERMISSIONS), 'invoices:read', 'invoices:approve'];

  it('read: every *:read, application keys included', () => {
    expect(scopePermissions('read', catalogue).sort()).toEqual(
      ['api_keys:read', 'audit:read', 'invoices:read', 'members:read', 'roles:read', 'tenant:read'].sort(),
    );
  });

  it('write: all but tenant:delete, members:*, roles:manage, api_keys:manage', () => {
    expect(scopePermissions('write', catalogue).sort()).toEqual(
      [
        'tenant:read',
        'tenant:update',
        'roles:read',
        'api_keys:read',
        'audit:read',
        'invoices:read',
        'invoices:approve',
      ].sort(),
    );
  });

  it('admin: all but tenant:delete', () => {
    expect(scopePermissions('admin', catalogue).sort()).toEqual(
      catalogue.filter((k) => k !== 'tenant:delete').sort(),
    );
  });
});
