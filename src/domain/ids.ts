import { randomUUID } from 'node:crypto';

/** The time part of the last id made, and its millisecond. */
let prefixMs = Number.NaN;
let prefix = '';

/**
 * UUIDv7 (RFC 9562): 48-bit millisecond timestamp, then randomness, so ids sort by creation time
 * and keyset pagination on `id` is pagination by age. Generated here rather than by the database
 * because PostgreSQL 15 has no uuidv7().
 *
 * Built on randomUUID(), which draws from a cached entropy pool (a fresh randomBytes() per id was a
 * visible share of every request, which gets one as its request id): a v4 UUID already has the
 * variant bits v7 needs, so only its first 48 bits and its version digit change.
 */
export function uuidv7(now = Date.now()): string {
  if (now !== prefixMs) {
    // Ids made in the same millisecond (every request gets one) share the time part.
    const time = now.toString(16).padStart(12, '0');
    prefix = `${time.slice(0, 8)}-${time.slice(8, 12)}-7`;
    prefixMs = now;
  }
  return prefix + randomUUID().slice(15); // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx, V in 8..b
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}
