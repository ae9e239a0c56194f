import { ValidationError } from '../domain/errors.js';
import { isUuid } from '../domain/ids.js';
import { literalLimit } from './db.js';

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/**
 * Cursors are opaque to clients but are only ever the last row's UUIDv7 id, checked on the way
 * back in, so a forged cursor is a 400 and never reaches a query as anything but a uuid parameter.
 */
export function encodeCursor(id: string): string {
  return Buffer.from(`v1:${id}`).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = decoded.startsWith('v1:') ? decoded.slice(3) : '';
  if (!isUuid(id))
    throw new ValidationError('The cursor is invalid', [{ path: '/cursor', message: 'is not a cursor' }]);
  return id;
}

/**
 * How many rows a page query fetches, as a literal (see literalLimit): at least `limit + 1`, so
 * toPage can tell whether another page follows, rounded up to one of a few sizes so that any
 * `?limit=` makes one of four statements per list query, not one of a hundred.
 */
const FETCH_SIZES = [11, 21, 51, 101];
export function pageLimit(limit: number): number {
  return literalLimit(fetchSize(limit));
}

/** The number of rows pageLimit writes into the statement. */
export function fetchSize(limit: number): number {
  const size = FETCH_SIZES.find((n) => n > limit);
  if (size === undefined)
    throw new RangeError(`Page size over ${(FETCH_SIZES.at(-1) as number) - 1}: ${limit}`);
  return size;
}

/** Takes at least `limit + 1` rows (newest first) and turns them into a page of `limit`. */
export function toPage<T extends { id: string }, V>(rows: T[], limit: number, view: (row: T) => V): Page<V> {
  const more = rows.length > limit;
  const data = more ? rows.slice(0, limit) : rows;
  const last = data[data.length - 1];
  return { data: data.map(view), nextCursor: more && last ? encodeCursor(last.id) : null };
}

/** Escapes LIKE wildcards so `?q=` matches its text literally. */
export function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
