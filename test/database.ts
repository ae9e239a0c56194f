import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import postgres from 'postgres';
import { inject } from 'vitest';
import { type Database, openDatabase } from '../src/platform/db.js';

/**
 * A fresh, migrated database for one test file: PGlite loaded from the run's snapshot, or (with
 * TEST_DATABASE_URL) a new PostgreSQL database cloned from the migrated template and dropped on close.
 */
export async function openTestDatabase(): Promise<Database> {
  const templateUrl = inject('templateDatabaseUrl');
  if (!templateUrl) {
    const snapshot = new Blob([readFileSync(inject('pgliteSnapshot'))]);
    return openDatabase({ loadDataDir: snapshot });
  }
  const name = `${inject('databasePrefix')}${process.pid}_${randomBytes(4).toString('hex')}`;
  const template = new URL(templateUrl);
  const admin = postgres(templateUrl.replace(template.pathname, '/postgres'), { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name} template ${template.pathname.slice(1)}`);
  await admin.end();
  const url = new URL(templateUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ databaseUrl: url.toString(), maxConnections: 20 });
  return {
    ...database,
    async close() {
      await database.close();
      const cleanup = postgres(templateUrl.replace(template.pathname, '/postgres'), {
        max: 1,
        onnotice: () => {},
      });
      await cleanup.unsafe(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}

export function isServerDatabase(): boolean {
  return inject('templateDatabaseUrl') !== '';
}
