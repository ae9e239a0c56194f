#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { serve } from './cluster.js';
import { ConfigError, loadConfig } from './config.js';
import { createContainer } from './container.js';
import { AppError } from './domain/errors.js';
import { openMigratedDatabase } from './server.js';

const USAGE = `Usage: tessera <command>

Commands:
  serve                               start the HTTP service (default)
  migrate                             apply pending database migrations
  create-admin --email E [--password P]
                                      create a superuser, or make an existing user one
                                      (the password may also come from TESSERA_ADMIN_PASSWORD)
  rotate-keys                         make a new JWT signing key; the old one verifies until its tokens expire
`;

async function withContainer<T>(run: (container: Awaited<ReturnType<typeof createContainer>>) => Promise<T>) {
  const config = loadConfig();
  const database = await openMigratedDatabase(config);
  const container = await createContainer({ config, database });
  try {
    return await run(container);
  } finally {
    await container.close();
    await database.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  switch (command) {
    case 'serve':
      // Runs until a signal; with WEB_CONCURRENCY > 1 as a cluster primary or one of its workers.
      await serve();
      return -1;
    case 'migrate': {
      const database = await openMigratedDatabase(loadConfig());
      await database.close();
      console.log('Migrations applied.');
      return 0;
    }
    case 'create-admin': {
      const { values } = parseArgs({
        args: rest,
        options: { email: { type: 'string' }, password: { type: 'string' } },
      });
      const password = values.password ?? process.env.TESSERA_ADMIN_PASSWORD;
      if (!values.email || !password) {
        console.error('create-admin needs --email and --password (or TESSERA_ADMIN_PASSWORD)');
        return 2;
      }
      const email = values.email;
      const outcome = await withContainer((c) => c.users.createOrPromoteAdmin(email, password));
      console.log(outcome === 'created' ? `Created superuser ${email}.` : `${email} is now a superuser.`);
      return 0;
    }
    case 'rotate-keys': {
      const kid = await withContainer((c) => c.keys.rotate());
      console.log(`New signing key ${kid} is active; the previous key verifies until its tokens expire.`);
      return 0;
    }
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
    default:
      console.error(`Unknown command "${command}".\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof AppError) console.error(error.message);
    else console.error(error);
    process.exit(1);
  },
);
