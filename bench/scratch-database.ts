/** The benchmark's own databases on the PostgreSQL server named by DATABASE_URL. */
import postgres from 'postgres';

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

async function admin<T>(url: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
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
