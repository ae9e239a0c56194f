import { createHash, randomInt } from 'node:crypto';

/**
 * Tessera API keys: `tsk_` + 28 base62 characters of CSPRNG output (28 x log2(62) = 166.7 bits) +
 * a 6-character base62 checksum of those 28. A secret scanner (or a client, before sending)
 * recognises a Tessera key, and tells a typo from a real key, without asking the server; the
 * checksum is no secret and adds no strength, the random part is all of it.
 */
export const API_KEY_PREFIX = 'tsk_';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_CHARS = 28;
const CHECKSUM_CHARS = 6;
const SHAPE = new RegExp(`^${API_KEY_PREFIX}[0-9A-Za-z]{${RANDOM_CHARS + CHECKSUM_CHARS}}$`);
/** Characters of a key kept in clear (`prefix`): `tsk_` and 8 random characters, for lists. */
export const API_KEY_DISPLAY_CHARS = 12;

/** A new key secret. Each character is drawn uniformly (randomInt rejects modulo bias). */
export function generateApiKey(): string {
  let random = '';
  for (let i = 0; i < RANDOM_CHARS; i++) random += BASE62[randomInt(62)];
  return `${API_KEY_PREFIX}${random}${checksum(random)}`;
}

/** The prefix, length and alphabet of a key, without its checksum. */
export function hasApiKeyShape(value: string): boolean {
  return SHAPE.test(value);
}

/** Shape and checksum only: a pure, offline test, no lookup. */
export function isWellFormedApiKey(value: string): boolean {
  if (!hasApiKeyShape(value)) return false;
  const body = value.slice(API_KEY_PREFIX.length);
  return checksum(body.slice(0, RANDOM_CHARS)) === body.slice(RANDOM_CHARS);
}

/** The part of a key shown in lists: enough to recognise it, far too little to guess it. */
export function apiKeyPrefix(key: string): string {
  return key.slice(0, API_KEY_DISPLAY_CHARS);
}

/** 6 base62 digits of SHA-256(random part): about 35.7 bits, so a random typo passes 1 in 5.7e10. */
function checksum(random: string): string {
  let n = createHash('sha256').update(random).digest().readBigUInt64BE(0);
  let out = '';
  for (let i = 0; i < CHECKSUM_CHARS; i++) {
    out += BASE62[Number(n % 62n)];
    n /= 62n;
  }
  return out;
}

export const API_KEY_SCOPES = ['read', 'write', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** What `write` never holds: the tenant's existence, its people and who may do what. */
const WRITE_EXCLUDED = new Set(['tenant:delete', 'roles:manage', 'api_keys:manage']);

/**
 * The permissions a scope allows, over the catalogue (system and application keys), as the contract
 * defines them: `read` = every `*:read`; `write` = all but tenant:delete, members:*, roles:manage and
 * api_keys:manage; `admin` = all but tenant:delete.
 */
export function scopePermissions(scope: ApiKeyScope, catalogue: Iterable<string>): string[] {
  const all = [...catalogue];
  switch (scope) {
    case 'read':
      return all.filter((key) => key.endsWith(':read'));
    case 'write':
      return all.filter((key) => !WRITE_EXCLUDED.has(key) && !key.startsWith('members:'));
    case 'admin':
      return all.filter((key) => key !== 'tenant:delete');
  }
}
