import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { type Config, loadConfig } from './config.js';
import { type Database, openDatabase } from './platform/db.js';
import { migrate } from './platform/migrate.js';

/** Opens the configured database (PGlite in DATA_DIR, or the server at DATABASE_URL) and migrates it. */
export async function openMigratedDatabase(config: Config): Promise<Database> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await migrate(database.db);
  return database;
}

/**
 * Starts the service: config → database (migrated under an advisory lock, so instances starting
 * together do not race) → app → listen. SIGTERM and SIGINT stop accepting connections, let
 * in-flight requests finish, then close the database.
 */
export async function startServer(config: Config = loadConfig()): Promise<FastifyInstance> {
  const database = await openMigratedDatabase(config);
  const app = await buildApp({ config, database });

  if (config.bootstrapAdminEmail && config.bootstrapAdminPassword) {
    const outcome = await app.container.users.bootstrapAdmin(
      config.bootstrapAdminEmail,
      config.bootstrapAdminPassword,
    );
    if (outcome === 'created')
      app.log.info({ email: config.bootstrapAdminEmail }, 'created the first superuser');
    if (outcome === 'email_taken') {
      app.log.warn(
        'BOOTSTRAP_ADMIN_EMAIL belongs to an existing user; not promoted (use `tessera create-admin`)',
      );
    }
  }

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000).unref();
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
  const where = config.databaseUrl ? 'PostgreSQL server' : `embedded PostgreSQL in ${config.dataDir}`;
  // Printed plainly as well as logged, for the person who just typed `npm start`.
  process.stdout.write(
    `\nTessera is listening on ${address}\nAPI reference: ${address}/docs\nDatabase: ${where}\n\n`,
  );
  return app;
}
