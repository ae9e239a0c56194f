import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { type Config, loadConfig } from './config.js';
import type { Container } from './container.js';
import { type Database, openDatabase } from './platform/db.js';
import { migrate } from './platform/migrate.js';

/** How long a stopping process waits for its requests in flight before it gives up on them. */
export const SHUTDOWN_GRACE_MS = 15_000;

/** Opens the configured database (PGlite in DATA_DIR, or the server at DATABASE_URL) and migrates it. */
export async function openMigratedDatabase(config: Config): Promise<Database> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await migrate(database.db);
  return database;
}

/** Creates the first superuser from BOOTSTRAP_ADMIN_* when set. Runs once per start, before serving. */
export async function bootstrapFirstSuperuser(
  config: Config,
  users: Container['users'],
  log: FastifyBaseLogger,
): Promise<void> {
  if (!config.bootstrapAdminEmail || !config.bootstrapAdminPassword) return;
  const outcome = await users.bootstrapAdmin(config.bootstrapAdminEmail, config.bootstrapAdminPassword);
  if (outcome === 'created') log.info({ email: config.bootstrapAdminEmail }, 'created the first superuser');
  if (outcome === 'email_taken') {
    log.warn('BOOTSTRAP_ADMIN_EMAIL belongs to an existing user; not promoted (use `tessera create-admin`)');
  }
}

/** Printed plainly as well as logged, for the person who just typed `npm start`. */
export function printBanner(config: Config, address: string, workers = 1): void {
  const where = config.databaseUrl ? 'PostgreSQL server' : `embedded PostgreSQL in ${config.dataDir}`;
  const processes = workers > 1 ? `Workers: ${workers}\n` : '';
  process.stdout.write(
    `\nTessera is listening on ${address}\nAPI reference: ${address}/docs\nDatabase: ${where}\n${processes}\n`,
  );
}

/** What a cluster worker tells the primary once it listens (see cluster.ts). */
export interface ListeningMessage {
  tessera: 'listening';
  address: string;
}

/**
 * Starts the service in this process: config → database (migrated under an advisory lock, so
 * instances starting together do not race) → app → listen. SIGTERM and SIGINT stop accepting
 * connections, let in-flight requests finish, then close the database.
 *
 * As a cluster worker (`worker: true`) the primary has already migrated and bootstrapped, and
 * prints the banner once for all workers: the worker only serves, and reports its address.
 */
export async function startServer(
  config: Config = loadConfig(),
  options: { worker?: boolean } = {},
): Promise<FastifyInstance> {
  const database = options.worker
    ? await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir })
    : await openMigratedDatabase(config);
  const app = await buildApp({ config, database });

  if (!options.worker) {
    for (const warning of config.warnings) app.log.warn(warning);
    await bootstrapFirstSuperuser(config, app.container.users, app.log);
  }

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS).unref();
    // close() stops accepting and waits for open sockets. Requests in flight finish; a keep-alive
    // socket would then sit idle until its timeout, so close each one as soon as it goes idle.
    const reapIdle = setInterval(() => app.server.closeIdleConnections(), 50).unref();
    try {
      await app.close();
      clearInterval(reapIdle);
      await database.close();
    } finally {
      clearTimeout(force);
      process.exit(0);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  const address = await app.listen({ port: config.port, host: config.host });
  if (options.worker) {
    const message: ListeningMessage = { tessera: 'listening', address };
    process.send?.(message);
  } else {
    printBanner(config, address);
  }
  return app;
}
