import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import postgres from 'postgres';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type Database, openDatabase, queryRows } from './db.js';
import { migrate } from './migrate.js';

const DRIZZLE = join(import.meta.dirname, '../../drizzle');
const MIGRATIONS = readMigrationFiles({ migrationsFolder: DRIZZLE });
const JOURNAL = JSON.parse(readFileSync(join(DRIZZLE, 'meta/_journal.json'), 'utf8')) as {
  entries: unknown[];
};

/**
 * Databases no migration has touched (the shared test databases are already migrated), as
 * `instances` connections: on the server, separate pools on a new empty database, as separate app
 * instances would have; embedded, one in-memory PGlite (a single connection by nature).
 */
async function openEmptyDatabase(
  instances: number,
): Promise<{ databases: Database[]; drop(): Promise<void> }> {
  const templateUrl = inject('templateDatabaseUrl');
  if (!templateUrl) {
    const database = await openDatabase({});
    return { databases: Array(instances).fill(database), drop: () => database.close() };
  }
  const adminUrl = new URL(templateUrl);
  adminUrl.pathname = '/postgres';
  // The tessera_test_ prefix lets the run's teardown drop it even if this file crashes.
  const name = `tessera_test_empty_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(templateUrl);
  url.pathname = `/${name}`;
  const databases = await Promise.all(
    Array.from({ length: instances }, () => openDatabase({ databaseUrl: url.toString(), maxConnections: 2 })),
  );
  return {
    databases,
    async drop() {
      for (const database of databases) await database.close();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

function appliedMigrations(database: Database) {
  return queryRows<{ hash: string; created_at: string }>(
    database.db,
    sql`select hash, created_at from drizzle.__drizzle_migrations order by id`,
  );
}

describe('migrate', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('knows every migration in the journal', () => {
    expect(MIGRATIONS.length).toBeGreaterThan(0);
    expect(MIGRATIONS).toHaveLength(JOURNAL.entries.length);
  });

  it('on an empty database: concurrent runs all succeed, each migration applies once, a rerun applies nothing', async () => {
    const { databases, drop } = await openEmptyDatabase(3);
    cleanups.push(drop);
    const [database] = databases as [Database];

    // Instances starting together queue on the advisory lock; the later ones find nothing to do.
    const results = await Promise.all(databases.map((d) => migrate(d.db)));
    expect(results.map((r) => r.applied).sort()).toEqual([0, 0, MIGRATIONS.length]);
    expect(await migrate(database.db)).toEqual({ applied: 0 });

    const rows = await appliedMigrations(database);
    expect(rows.map((r) => r.hash)).toEqual(MIGRATIONS.map((m) => m.hash));
    expect(rows.map((r) => Number(r.created_at))).toEqual(MIGRATIONS.map((m) => m.folderMillis));

    // The schema the application expects.
    const tables = await queryRows<{ table_name: string }>(
      database.db,
      sql`select table_name from information_schema.tables where table_schema = 'public'`,
    );
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining(['refresh_tokens', 'sessions', 'signing_keys', 'users']),
    );
    const [index] = await queryRows<{ indexdef: string }>(
      database.db,
      sql`select indexdef from pg_indexes where schemaname = 'public' and indexname = 'users_email_key'`,
    );
    expect(index?.indexdef).toMatch(/^CREATE UNIQUE INDEX users_email_key .*lower\(email\)/);
    const foreignKeys = await queryRows<{ conname: string }>(
      database.db,
      sql`select conname from pg_constraint where contype = 'f'`,
    );
    expect(foreignKeys.map((c) => c.conname)).toEqual(
      expect.arrayContaining(['refresh_tokens_session_id_fkey', 'sessions_user_id_fkey']),
    );
  });

  it('keeps an embedded database in DATA_DIR across restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tessera-migrate-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const first = await openDatabase({ dataDir });
    expect(first.kind).toBe('embedded');
    expect(await migrate(first.db)).toEqual({ applied: MIGRATIONS.length });
    await first.db.execute(
      sql`insert into users (id, email, password_hash) values (gen_random_uuid(), 'kept@example.test', 'x')`,
    );
    await first.close();

    const second = await openDatabase({ dataDir });
    cleanups.push(() => second.close());
    expect(await migrate(second.db)).toEqual({ applied: 0 });
    expect(await queryRows(second.db, sql`select email from users`)).toEqual([
      { email: 'kept@example.test' },
    ]);
  });
});
