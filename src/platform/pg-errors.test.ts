import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase } from '../../test/database.js';
import { sessions, users } from '../db/schema/index.js';
import { uuidv7 } from '../domain/ids.js';
import type { Database } from './db.js';
import { constraintOf, isForeignKeyViolation, isUniqueViolation } from './pg-errors.js';

async function failure(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error('expected the statement to fail');
}

describe('pg-errors on a real database', () => {
  let database: Database;
  beforeAll(async () => {
    database = await openTestDatabase();
  });
  afterAll(() => database.close());

  const user = (email: string) => ({ email, passwordHash: 'not-a-real-hash' });

  it('recognises a unique violation by its constraint name', async () => {
    const { db } = database;
    await db.insert(users).values(user('dup@example.test'));
    // The unique index is on lower(email): a different case is still a duplicate.
    const error = await failure(() => db.insert(users).values(user('DUP@example.test')));
    expect(isUniqueViolation(error)).toBe(true);
    expect(isUniqueViolation(error, 'users_email_key')).toBe(true);
    expect(isUniqueViolation(error, 'sessions_pkey')).toBe(false);
    expect(constraintOf(error)).toBe('users_email_key');
    expect(isForeignKeyViolation(error)).toBe(false);
  });

  it('recognises a unique violation inside a transaction', async () => {
    const { db } = database;
    const error = await failure(() =>
      db.transaction(async (tx) => {
        await tx.insert(users).values(user('tx-dup@example.test'));
        await tx.insert(users).values(user('tx-dup@example.test'));
      }),
    );
    expect(isUniqueViolation(error, 'users_email_key')).toBe(true);
  });

  it('recognises a foreign key violation by its constraint name', async () => {
    const error = await failure(() =>
      database.db.insert(sessions).values({ userId: uuidv7(), expiresAt: new Date() }),
    );
    expect(isForeignKeyViolation(error)).toBe(true);
    expect(isForeignKeyViolation(error, 'sessions_user_id_fkey')).toBe(true);
    expect(isForeignKeyViolation(error, 'refresh_tokens_session_id_fkey')).toBe(false);
    expect(constraintOf(error)).toBe('sessions_user_id_fkey');
    expect(isUniqueViolation(error)).toBe(false);
  });

  it('does not mistake other database errors for constraint violations', async () => {
    const error = await failure(() => database.db.execute('select * from no_such_table'));
    expect(isUniqueViolation(error)).toBe(false);
    expect(isForeignKeyViolation(error)).toBe(false);
    expect(constraintOf(error)).toBeUndefined();
  });
});

describe('pg-errors on plain values', () => {
  it('answers false for anything that is not a PostgreSQL error', () => {
    for (const value of [undefined, null, 'duplicate', 23505, new Error('23505'), { code: 'ECONNRESET' }]) {
      expect(isUniqueViolation(value)).toBe(false);
      expect(isForeignKeyViolation(value)).toBe(false);
      expect(constraintOf(value)).toBeUndefined();
    }
  });

  it('reads either driver’s field, through wrapping errors', () => {
    const postgresJs = { code: '23505', constraint_name: 'users_email_key' };
    const pglite = { code: '23505', constraint: 'users_email_key' };
    for (const driverError of [postgresJs, pglite]) {
      const wrapped = Object.assign(new Error('Failed query'), { cause: driverError });
      expect(isUniqueViolation(wrapped, 'users_email_key')).toBe(true);
      expect(isUniqueViolation({ cause: wrapped }, 'users_email_key')).toBe(true);
    }
  });

  it('does not loop forever on a cyclic cause chain', () => {
    const a: { cause?: unknown } = {};
    a.cause = a;
    expect(isUniqueViolation(a)).toBe(false);
  });
});
