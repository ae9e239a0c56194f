import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase } from '../../test/database.js';
import { users } from '../db/schema/index.js';
import { ValidationError } from '../domain/errors.js';
import { uuidv7 } from '../domain/ids.js';
import { type Database, queryRows } from './db.js';
import { decodeCursor, encodeCursor, likePattern, pageLimit, toPage } from './pagination.js';

describe('cursors', () => {
  it('round-trip an id and look opaque', () => {
    const id = uuidv7();
    const cursor = encodeCursor(id);
    expect(cursor).toMatch(/^[\w-]+$/);
    expect(cursor).not.toContain(id);
    expect(decodeCursor(cursor)).toBe(id);
  });

  it('an absent cursor is the first page', () => {
    expect(decodeCursor(undefined)).toBeUndefined();
  });

  it.each([
    ['garbage', '!!!not base64!!!'],
    ['empty', ''],
    ['a bare uuid', '0190f2a0-0000-7000-8000-000000000000'],
    ['an encoded uuid without the version', Buffer.from(uuidv7()).toString('base64url')],
    ['another version', Buffer.from(`v2:${uuidv7()}`).toString('base64url')],
    ['an encoded non-uuid', Buffer.from("v1:' or 1=1 --").toString('base64url')],
    ['a uuid with trailing text', Buffer.from(`v1:${uuidv7()}x`).toString('base64url')],
  ])('refuses %s with a 400 ValidationError on /cursor', (_label, cursor) => {
    let caught: unknown;
    try {
      decodeCursor(cursor);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).code).toBe('validation_failed');
    expect((caught as ValidationError).errors).toEqual([{ path: '/cursor', message: 'is not a cursor' }]);
  });
});

describe('toPage', () => {
  const rows = Array.from({ length: 4 }, (_, i) => ({ id: uuidv7(4000 - i), n: i }));

  it('with limit + 1 rows answers limit items and a cursor at the last one', () => {
    const page = toPage(rows, 3, (r) => r.n);
    expect(page.data).toEqual([0, 1, 2]);
    expect(page.nextCursor).not.toBeNull();
    expect(decodeCursor(page.nextCursor!)).toBe(rows[2]!.id);
  });

  it('with limit rows or fewer is the last page', () => {
    expect(toPage(rows.slice(0, 3), 3, (r) => r.n)).toEqual({ data: [0, 1, 2], nextCursor: null });
    expect(toPage([], 3, (r: { id: string }) => r.id)).toEqual({ data: [], nextCursor: null });
  });
});

describe('pageLimit', () => {
  let database: Database;
  beforeAll(async () => {
    database = await openTestDatabase();
  });
  afterAll(() => database.close());
  const limitOf = (limit: number) => database.db.select().from(users).limit(pageLimit(limit)).toSQL();

  it('writes the row count into the statement, one more than the page or rounded up to a few sizes', () => {
    expect(limitOf(20)).toMatchObject({ params: [] });
    expect(limitOf(20).sql).toMatch(/ limit 21$/);
    expect(limitOf(10).sql).toMatch(/ limit 11$/);
    expect(limitOf(1).sql).toMatch(/ limit 11$/);
    expect(limitOf(21).sql).toMatch(/ limit 51$/);
    expect(limitOf(100).sql).toMatch(/ limit 101$/);
    expect(() => pageLimit(101)).toThrow(RangeError);
  });

  it('a page of more rows than asked for still answers the page asked for', () => {
    const rows = Array.from({ length: 11 }, (_, i) => ({ id: uuidv7(4000 - i), n: i }));
    const page = toPage(rows, 2, (r) => r.n);
    expect(page.data).toEqual([0, 1]);
    expect(decodeCursor(page.nextCursor!)).toBe(rows[1]!.id);
  });
});

describe('likePattern', () => {
  it('escapes LIKE wildcards and the escape character', () => {
    expect(likePattern('ann')).toBe('%ann%');
    expect(likePattern('50%_off\\')).toBe('%50\\%\\_off\\\\%');
  });

  describe('on the database', () => {
    let database: Database;
    beforeAll(async () => {
      database = await openTestDatabase();
    });
    afterAll(() => database.close());

    const matches = async (text: string, q: string) => {
      const [row] = await queryRows<{ hit: boolean }>(
        database.db,
        sql`select ${text}::text ilike ${likePattern(q)} as hit`,
      );
      return row!.hit;
    };

    it('matches the text literally, case-insensitively', async () => {
      expect(await matches('Ann Smith', 'ann')).toBe(true);
      expect(await matches('50% off', '50%')).toBe(true);
      expect(await matches('500 off', '50%')).toBe(false);
      expect(await matches('a_b', 'a_b')).toBe(true);
      expect(await matches('axb', 'a_b')).toBe(false);
      expect(await matches('back\\slash', 'k\\s')).toBe(true);
      expect(await matches('backslash', 'k\\s')).toBe(false);
      expect(await matches('anything', '%')).toBe(false);
    });
  });
});
