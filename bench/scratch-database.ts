/** The benchmark's own databases on the PostgreSQL server named by DATABASE_URL. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import postgres from 'postgres';

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/** Runs `run` on a connection of its own to `url`, closed afterwards. */
export async function admin<T>(url: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await run(sql);
  } finally {
    await sql.end();
  }
}

/** Creates `name` (dropping it first when `fresh`) and returns its URL. */
export async function ensureDatabase(url: string, name: string, opts: { fresh: boolean }): Promise<string> {
  await admin(url, async (sql) => {
    if (opts.fresh) await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    const [exists] = await sql`SELECT 1 FROM pg_database WHERE datname = ${name}`;
    if (!exists) await sql.unsafe(`CREATE DATABASE ${name}`);
  });
  return withDatabase(url, name);
}

export async function dropDatabase(url: string, name: string): Promise<void> {
  await admin(url, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

export async function serverVersion(url: string): Promise<string> {
  return admin(url, async (sql) => {
    const [row] = await sql<{ server_version: string }[]>`SHOW server_version`;
    return `PostgreSQL ${row?.server_version ?? '?'} server`;
  });
}

const LOCAL_HOSTS = new Set(['', 'localhost', '127.0.0.1', '[::1]']);

/**
 * Moves the PostgreSQL backends connected to `url`'s database onto `cores` with taskset, when the
 * server runs on this machine. Left alone, the scheduler wakes a backend on the core of the process
 * that woke it, so PostgreSQL's share of every query ran on the server's core and was counted
 * against it, while a bare Fastify server has its core to itself. In production the database has
 * machines of its own; here it shares the load generator's. New connections fork new backends, so
 * this runs before every measured phase. Answers how many backends it moved (0 when the server is
 * elsewhere or taskset refuses).
 */
export async function pinBackends(url: string, cores: string): Promise<number> {
  const parsed = new URL(url);
  if (!LOCAL_HOSTS.has(parsed.hostname)) return 0;
  const pids = await admin(url, async (sql) =>
    (
      await sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity
        WHERE datname = ${parsed.pathname.slice(1)} AND pid <> pg_backend_pid()`
    ).map((row) => row.pid),
  );
  let moved = 0;
  for (const pid of pids) {
    try {
      // The pid must be a PostgreSQL process of this machine, not a number from some other host.
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
      execFileSync('taskset', ['-pc', cores, String(pid)], { stdio: 'ignore' });
      moved++;
    } catch {
      // Gone since, or not ours to move: it runs where the scheduler puts it.
    }
  }
  return moved;
}
