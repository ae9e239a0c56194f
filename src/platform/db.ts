import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { type ExtractTablesWithRelations, fillPlaceholders, type Query, SQL, sql } from 'drizzle-orm';
import { type PgDatabase, PgDialect, type PgQueryResultHKT, type PgTransaction } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';

/**
 * The one database type: both drivers are PgDatabase underneath, so repos never know which runs.
 * Without the schema: repos use the query builder and SQL, never `db.query`, and drizzle builds a
 * relational query builder per table for every transaction it opens when it has one.
 */
type NoSchema = Record<string, never>;
export type Db = PgDatabase<PgQueryResultHKT, NoSchema>;
export type Tx = PgTransaction<PgQueryResultHKT, NoSchema, ExtractTablesWithRelations<NoSchema>>;
/** What a repo function runs on: the pool, or the caller's transaction. */
export type Executor = Db | Tx;

export interface Database {
  kind: 'embedded' | 'server';
  db: Db;
  /** Calls `handler` for each NOTIFY on `channel`; `onConnect` runs on every (re)connect of the listener. */
  listen(
    channel: string,
    handler: (payload: string) => void,
    onConnect?: () => void,
  ): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string | undefined;
  /** Directory of the embedded database; `undefined` keeps it in memory (tests). */
  dataDir?: string | undefined;
  /** A tarball from PGlite's dumpDataDir to start the embedded database from (tests). */
  loadDataDir?: Blob | File | undefined;
  maxConnections?: number;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.databaseUrl
    ? openServer(options.databaseUrl, options.maxConnections ?? 10)
    : openEmbedded(options);
}

function openServer(url: string, max: number): Database {
  // postgres.js takes multi-host URLs with target_session_attrs=read-write, so a failover pair
  // needs no proxy in front; its LISTEN connection reconnects by itself.
  // Prepared statements keep their generic plan from the first execution (see preparing()). Not
  // asked for with ?prepare=false, which is for poolers, some of which refuse unknown parameters.
  const prepared = !/[?&]prepare=false(&|$)/.test(url);
  const client = postgres(url, {
    max,
    onnotice: () => {},
    connection: {
      application_name: 'tessera',
      ...(prepared ? { plan_cache_mode: 'force_generic_plan' } : {}),
    },
  });
  return {
    kind: 'server',
    db: drizzlePostgres(preparing(client)) as unknown as Db,
    async listen(channel, handler, onConnect) {
      const { unlisten } = await client.listen(checkChannel(channel), handler, onConnect);
      return unlisten;
    },
    close: () => client.end({ timeout: 5 }),
  };
}

/**
 * drizzle runs every query unnamed (postgres.js `prepare: false`), so PostgreSQL parsed and planned
 * each one on every execution (about 1 ms of planning for a members page) and postgres.js spent a
 * round trip describing it first. The app's queries are fixed texts with bound parameters, so they
 * are prepared instead: parsed and planned once per connection, then only bound and executed.
 * Planned once needs plan_cache_mode=force_generic_plan: left to choose, PostgreSQL plans each
 * execution for its parameters whenever its estimate of the generic plan comes out a little
 * costlier, which for the members page it did every time, spending more CPU than the app. Every
 * statement here is a lookup by key or a keyset page, whose plan does not depend on the values;
 * test/hot-path-explain.test.ts checks the generic plans of the hot paths use their indexes.
 * Parameterless queries are prepared too (the platform audit log's head is one); other
 * parameterless commands (migrations, DDL) keep the simple protocol, which takes several
 * statements in one string. A server without prepared statements (a transaction-pooling
 * proxy) opts out with `?prepare=false` on DATABASE_URL, which postgres.js honours over any
 * per-query setting.
 */
type Sql = postgres.Sql;
const QUERY = /^\s*(select|with)\b/i;
function preparing(client: Sql): Sql {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === 'unsafe') {
        return (query: string, params?: unknown[], options?: Record<string, unknown>) =>
          target.unsafe(
            query,
            params as never,
            params?.length || QUERY.test(query) ? { ...options, prepare: true, simple: false } : options,
          );
      }
      // Transactions and savepoints hand their callback a client of their own: wrap it too.
      if (property === 'begin' || property === 'savepoint') {
        const open = Reflect.get(target, property, receiver) as (...args: unknown[]) => unknown;
        return (...args: unknown[]) => {
          const run = args.pop() as (tx: Sql) => unknown;
          return open.call(target, ...args, (tx: Sql) => run(preparing(tx)));
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

async function openEmbedded(options: DatabaseOptions): Promise<Database> {
  let dataDir: string | undefined;
  if (options.dataDir) {
    mkdirSync(options.dataDir, { recursive: true });
    dataDir = join(options.dataDir, 'pgdata');
  }
  const client = await PGlite.create(
    dataDir,
    options.loadDataDir ? { loadDataDir: options.loadDataDir } : {},
  );
  return {
    kind: 'embedded',
    db: drizzlePglite(client) as unknown as Db,
    async listen(channel, handler, onConnect) {
      // PGlite pastes the name into `LISTEN <name>` unquoted, so PostgreSQL folds it to lower case
      // while pg_notify() keeps its case: a mixed-case channel never delivered anything. Quoted, it
      // behaves as on postgres.js, which quotes it itself. The unlisten function PGlite returns
      // strips the quotes again and misses the handler, so we unlisten by the quoted name.
      const quoted = `"${checkChannel(channel)}"`;
      await client.listen(quoted, handler);
      onConnect?.();
      return () => client.unlisten(quoted, handler);
    },
    close: () => client.close(),
  };
}

/**
 * Channel names are SQL identifiers (at most 63 bytes); both drivers are given only plain ones,
 * so a name is never SQL and never truncated into another channel.
 */
function checkChannel(channel: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(channel)) {
    throw new Error(`Invalid channel name ${JSON.stringify(channel)}: use letters, digits and _`);
  }
  return channel;
}

/**
 * A LIMIT written into the statement instead of bound as a parameter. The app's statements run on
 * their generic plan (see preparing()), and PostgreSQL makes the generic plan of `limit $n` as if a
 * tenth of the matching rows came back: for a million-member tenant, a plan for 100,000 rows to
 * answer 21. Written in, the limit is planned for. drizzle's `.limit()` binds numbers but embeds an
 * SQL fragment as it is (pg-core dialect, `typeof limit === 'object'`). Give it few distinct values
 * (see pageLimit): each makes a statement of its own, prepared and kept on every connection.
 */
export function literalLimit(rows: number): number {
  if (!Number.isSafeInteger(rows) || rows < 0) throw new RangeError(`Not a row count: ${rows}`);
  return sql.raw(String(rows)) as unknown as number;
}

/** Both drivers' dialect: no casing option, as openDatabase creates them. */
const dialect = new PgDialect();

/** The text and values drizzle sends for `query`. */
export function toQuery(query: SQL): Query {
  return dialect.sqlToQuery(query);
}

/** A statement already turned into text and values: drizzle runs it without building anything. */
class BuiltSql extends SQL {
  constructor(private readonly built: Query) {
    super([]);
  }

  override toQuery(): Query {
    return this.built;
  }
}

/** Runs text and values as they are, e.g. `built({ sql: \`explain ${q.sql}\`, params: q.params })`. */
export function built(query: Query): SQL {
  return new BuiltSql(query);
}

/**
 * A hot path's statement, turned into text once. drizzle walks an `sql` template's pieces, tables
 * and nested templates again on every run: 5 % of a members page's CPU. Write each value as
 * `sql.placeholder('name')`; `bind` gives the statement with this run's values.
 */
export class Statement<Values extends Record<string, unknown>> {
  readonly #query: Query;

  constructor(template: SQL) {
    this.#query = toQuery(template);
  }

  bind(values: Values): SQL {
    return built({ sql: this.#query.sql, params: fillPlaceholders(this.#query.params, values) });
  }
}

/** Rows of a raw query: postgres.js answers an array, PGlite an object holding one. */
export async function queryRows<T>(executor: Executor, query: SQL): Promise<T[]> {
  const result = (await executor.execute(query)) as unknown as T[] | { rows: T[] };
  return Array.isArray(result) ? result : result.rows;
}

/**
 * NOTIFY inside the caller's transaction: PostgreSQL delivers it only if the transaction commits,
 * so no instance drops a cache entry for a change that was rolled back.
 */
export async function notify(executor: Executor, channel: string, payload: string): Promise<void> {
  await executor.execute(sql`select pg_notify(${channel}, ${payload})`);
}
