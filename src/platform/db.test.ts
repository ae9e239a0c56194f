import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isServerDatabase, openTestDatabase } from '../../test/database.js';
import { users } from '../db/schema/index.js';
import { type Database, notify, openDatabase, queryRows } from './db.js';

/** Collects a channel's payloads and resolves when one arrives. */
async function subscribe(database: Database, channel: string) {
  const received: string[] = [];
  const waiters: Array<{ payload: string; resolve: () => void }> = [];
  let connects = 0;
  const unlisten = await database.listen(
    channel,
    (payload) => {
      received.push(payload);
      for (const w of waiters.filter((w) => w.payload === payload)) w.resolve();
    },
    () => connects++,
  );
  const arrival = (payload: string) =>
    new Promise<void>((resolve, reject) => {
      if (received.includes(payload)) return resolve();
      const timer = setTimeout(() => reject(new Error(`${payload} never arrived on ${channel}`)), 5_000);
      waiters.push({
        payload,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  return { received, arrival, unlisten, connects: () => connects };
}

describe('database', () => {
  let database: Database;
  beforeAll(async () => {
    database = await openTestDatabase();
  });
  afterAll(() => database.close());

  it('runs the driver the test run asked for', () => {
    expect(database.kind).toBe(isServerDatabase() ? 'server' : 'embedded');
  });

  it.skipIf(!isServerDatabase())(
    'keeps generic plans on its server connections, unless prepare=false asks for no prepared statements',
    async () => {
      const planCacheMode = async (url: string) => {
        const own = await openDatabase({ databaseUrl: url, maxConnections: 1 });
        try {
          const [row] = await queryRows<{ plan_cache_mode: string }>(own.db, sql`show plan_cache_mode`);
          return row?.plan_cache_mode;
        } finally {
          await own.close();
        }
      };
      // This file's own database: the template must stay free for the other files to clone.
      const url = new URL(inject('templateDatabaseUrl'));
      url.pathname = `/${(database.db as unknown as { $client: { options: { database: string } } }).$client.options.database}`;
      expect(await planCacheMode(url.toString())).toBe('force_generic_plan');
      url.searchParams.set('prepare', 'false');
      expect(await planCacheMode(url.toString())).toBe('auto');
    },
  );

  describe('queryRows', () => {
    it('answers the rows of a raw query', async () => {
      const rows = await queryRows<{ n: number; word: string }>(
        database.db,
        sql`select n, 'w' || n as word from generate_series(1, 3) as n order by n`,
      );
      expect(rows).toEqual([
        { n: 1, word: 'w1' },
        { n: 2, word: 'w2' },
        { n: 3, word: 'w3' },
      ]);
    });

    it('answers an empty array when nothing matches, and works inside a transaction', async () => {
      expect(await queryRows(database.db, sql`select 1 where false`)).toEqual([]);
      const rows = await database.db.transaction((tx) =>
        queryRows<{ one: number }>(tx, sql`select 1 as one`),
      );
      expect(rows).toEqual([{ one: 1 }]);
    });
  });

  describe('transactions', () => {
    it('roll back every statement when the callback throws', async () => {
      const email = 'rolled-back@example.test';
      await expect(
        database.db.transaction(async (tx) => {
          await tx.insert(users).values({ email, passwordHash: 'x' });
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      const rows = await queryRows(database.db, sql`select 1 from users where email = ${email}`);
      expect(rows).toEqual([]);
    });
  });

  describe('listen and notify', () => {
    it('delivers a NOTIFY from a committed transaction, and none from a rolled-back one', async () => {
      const channel = 'tessera_test_notify';
      const { received, arrival, unlisten, connects } = await subscribe(database, channel);
      expect(connects()).toBe(1);

      await expect(
        database.db.transaction(async (tx) => {
          await notify(tx, channel, 'rolled-back');
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      await database.db.transaction(async (tx) => {
        await notify(tx, channel, 'committed');
      });

      // Notifications arrive in commit order: had the rolled-back one been sent, it would be here first.
      await arrival('committed');
      expect(received).toEqual(['committed']);
      await unlisten();
    });

    it('delivers a NOTIFY outside a transaction, with any payload', async () => {
      const channel = 'tessera_test_payloads';
      const { received, arrival, unlisten } = await subscribe(database, channel);
      const payloads = ['plain', '', 'quotes \' and " and $1', '日本語 ✓', JSON.stringify({ a: [1, 2] })];
      for (const payload of payloads) await notify(database.db, channel, payload);
      await arrival(payloads.at(-1)!);
      expect(received).toEqual(payloads);
      await unlisten();
    });

    it('keeps channels apart, with mixed-case names too, and stops after unlisten', async () => {
      const a = await subscribe(database, 'Tessera_Test_A');
      const b = await subscribe(database, 'tessera_test_b');
      await notify(database.db, 'Tessera_Test_A', 'to-a');
      await notify(database.db, 'tessera_test_b', 'to-b');
      await Promise.all([a.arrival('to-a'), b.arrival('to-b')]);
      expect(a.received).toEqual(['to-a']);
      expect(b.received).toEqual(['to-b']);

      await a.unlisten();
      await notify(database.db, 'Tessera_Test_A', 'after-unlisten');
      await notify(database.db, 'tessera_test_b', 'marker');
      // The marker was sent after the other notification, on the same connection.
      await b.arrival('marker');
      expect(a.received).toEqual(['to-a']);
      await b.unlisten();
    });

    it('refuses channel names that are not plain identifiers', async () => {
      for (const channel of ['', 'has space', 'quote"d', 'semi;colon', 'x'.repeat(64)]) {
        await expect(database.listen(channel, () => {})).rejects.toThrow(/channel/);
      }
    });
  });
});
