import { connect, createServer, type Server, type Socket } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isServerDatabase, openTestDatabase } from '../../test/database.js';
import { users } from '../db/schema/index.js';
import { type Database, openDatabase, queryRows } from './db.js';

/**
 * A TCP relay to the test server that can hold back the server's answers: what the client sends
 * while they are held shows what it sends without waiting for an answer.
 */
async function holdingRelay(target: URL) {
  let holding = false;
  let sent = '';
  const held: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => {
      sent += chunk.toString('latin1');
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (holding) held.push(() => client.write(chunk));
      else client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    hold() {
      holding = true;
      sent = '';
    },
    release() {
      holding = false;
      for (const write of held.splice(0)) write();
    },
    sent: () => sent,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

/**
 * patches/postgres+3.4.9.patch: a transaction's first statements go out right behind its BEGIN
 * instead of a round trip after BEGIN's answer, one round trip less for every write transaction.
 */
describe.skipIf(!isServerDatabase())('transactions on the server', () => {
  let database: Database;
  let relay: Awaited<ReturnType<typeof holdingRelay>>;
  let relayed: Database;
  /** This file's own database. */
  let url: URL;

  beforeAll(async () => {
    database = await openTestDatabase();
    url = new URL(inject('templateDatabaseUrl'));
    url.pathname = `/${(database.db as unknown as { $client: { options: { database: string } } }).$client.options.database}`;
    relay = await holdingRelay(url);
    const through = new URL(url);
    through.host = `127.0.0.1:${relay.port}`;
    relayed = await openDatabase({ databaseUrl: through.toString(), maxConnections: 1 });
    await queryRows(relayed.db, sql`select 1`); // connected, authenticated, before anything is held
  });
  afterAll(async () => {
    await relayed.close();
    await relay.close();
    await database.close();
  });

  it("send the first statement before BEGIN's answer comes back, and commit it", async () => {
    relay.hold();
    const email = 'pipelined@example.test';
    const done = relayed.db.transaction(async (tx) => {
      await tx.insert(users).values({ email, passwordHash: 'x' });
    });
    const sentBehindBegin = await until(() => relay.sent().includes('"users"'), 2_000);
    expect(relay.sent()).toMatch(/begin/i);
    relay.release();
    await done;
    expect(sentBehindBegin).toBe(true);
    expect(await queryRows(database.db, sql`select 1 from users where email = ${email}`)).toHaveLength(1);
  });

  it('roll back the statements behind BEGIN when one of them fails', async () => {
    const email = 'pipelined-rollback@example.test';
    await expect(
      relayed.db.transaction(async (tx) => {
        await tx.insert(users).values({ email, passwordHash: 'x' });
        await tx.execute(sql`select 1 / 0`);
      }),
    ).rejects.toThrow();
    expect(await queryRows(database.db, sql`select 1 from users where email = ${email}`)).toEqual([]);
    // The connection is usable again afterwards.
    expect(await queryRows(relayed.db, sql`select 2 as two`)).toEqual([{ two: 2 }]);
  });

  it('keep every statement inside its own transaction when many share a small pool', async () => {
    const pool = await openDatabase({ databaseUrl: url.toString(), maxConnections: 2 });
    try {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 100 }, (_, i) =>
          pool.db.transaction(async (tx) => {
            const [first] = await queryRows<{ xid: string }>(tx, sql`select txid_current()::text as xid`);
            await tx.insert(users).values({ email: `stress-${i}@example.test`, passwordHash: 'x' });
            const [second] = await queryRows<{ xid: string }>(tx, sql`select txid_current()::text as xid`);
            if (i % 2 === 1) throw new Error('abort');
            return first?.xid === second?.xid;
          }),
        ),
      );
      // Each committed transaction ran its statements in one transaction; each aborted one left nothing.
      expect(outcomes.filter((o) => o.status === 'fulfilled' && o.value === true)).toHaveLength(50);
      const rows = await queryRows<{ email: string }>(
        database.db,
        sql`select email from users where email like 'stress-%' order by email`,
      );
      const kept = Array.from({ length: 50 }, (_, k) => `stress-${2 * k}@example.test`).sort();
      expect(rows.map((r) => r.email)).toEqual(kept);
    } finally {
      await pool.close();
    }
  });

  it('queue a transaction while the only connection is busy, and run it once it is free', async () => {
    const first = relayed.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_sleep(0.2)`);
      return 'first';
    });
    const second = relayed.db.transaction((tx) => queryRows<{ n: number }>(tx, sql`select 2 as n`));
    expect(await Promise.all([first, second])).toEqual(['first', [{ n: 2 }]]);
  });
});
