import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../src/platform/db.js';
import { migrate } from '../src/platform/migrate.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Embedded mode: a migrated PGlite data directory, as a tarball file. */
    pgliteSnapshot: string;
    /** Server mode: the migrated template database each test file clones. */
    templateDatabaseUrl: string;
    /** Prefix of every database this run creates on the server. */
    databasePrefix: string;
  }
}

/** Databases of this run share a prefix, so two runs on one server never drop each other's. */
const RUN_PREFIX = `tessera_test_${process.pid}_`;

/**
 * Migrates once per run. Embedded: a PGlite is migrated and its data directory dumped, so each test
 * file starts from the snapshot in a fraction of a second. Server (TEST_DATABASE_URL): a template
 * database is migrated, and each test file gets `CREATE DATABASE ... TEMPLATE` of it.
 */
export default async function setup(project: TestProject) {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (serverUrl) {
    const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
    const templateName = `${RUN_PREFIX}template`;
    await dropRunDatabases(admin);
    await admin.unsafe(`create database ${templateName}`);
    await admin.end();
    const templateUrl = withDatabase(serverUrl, templateName);
    const template = await openDatabase({ databaseUrl: templateUrl, maxConnections: 1 });
    await migrate(template.db);
    await template.close();
    project.provide('templateDatabaseUrl', templateUrl);
    project.provide('databasePrefix', RUN_PREFIX);
    project.provide('pgliteSnapshot', '');
    return async () => {
      const cleanup = postgres(serverUrl, { max: 1, onnotice: () => {} });
      await dropRunDatabases(cleanup);
      await cleanup.end();
    };
  }

  const database = await openDatabase({});
  await migrate(database.db);
  const client = (database.db as unknown as { $client: PGlite }).$client;
  const snapshot = await client.dumpDataDir('none');
  await database.close();
  const dir = mkdtempSync(join(tmpdir(), 'tessera-test-'));
  const file = join(dir, 'pgdata.tar');
  writeFileSync(file, Buffer.from(await snapshot.arrayBuffer()));
  project.provide('pgliteSnapshot', file);
  project.provide('templateDatabaseUrl', '');
  project.provide('databasePrefix', RUN_PREFIX);
  return () => rmSync(dir, { recursive: true, force: true });
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function dropRunDatabases(admin: postgres.Sql): Promise<void> {
  const rows = await admin<{ datname: string }[]>`
    select datname from pg_database where starts_with(datname, ${RUN_PREFIX})`;
  for (const { datname } of rows) await admin.unsafe(`drop database if exists "${datname}" with (force)`);
}
