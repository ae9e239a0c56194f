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

/** `candidate`, or `previous` plus one where the candidate does not sort after it. */
export function nextId(candidate: string, previous: string | null): string {
  if (previous === null || candidate > previous) return candidate;
  const next = (BigInt(`0x${previous.replaceAll('-', '')}`) + 1n).toString(16).padStart(32, '0');
  return `${next.slice(0, 8)}-${next.slice(8, 12)}-${next.slice(12, 16)}-${next.slice(16, 20)}-${next.slice(20)}`;
}

let lastAt = Number.NaN;
let lastAtId: string | null = null;

/**
 * The id of a row created at `at` (its createdAt): a UUIDv7 of that millisecond, so a list ordered
 * by id, newest first, agrees with createdAt. Rows this process makes in one millisecond get
 * increasing ids (the random part alone would order them by chance): created one after another on
 * a clock that has not moved on, they still list in the order they were made.
 */
export function idAt(at: Date): string {
  const ms = at.getTime();
  const id = nextId(uuidv7(ms), ms === lastAt ? lastAtId : null);
  lastAt = ms;
  lastAtId = id;
  return id;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}
