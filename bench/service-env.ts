/** How the benchmarks start the service: as `npm start` does, in the production configuration, with the sign-in limits off. */
import { readFileSync } from 'node:fs';

export const METRICS_TOKEN = 'bench-metrics-token';
const SECRET_KEY = 'bench-secret-key-0123456789abcdef0123456789abcdef';

export function serviceEnv(): Record<string, string> {
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    SECRET_KEY,
    METRICS_TOKEN,
    // The scenarios sign one account in hundreds of times a second from one address, which is
    // what the per-address and per-account limits exist to stop; they are off here and tested
    // on their own.
    AUTH_RATE_LIMIT_PER_MINUTE: '0',
    LOGIN_MAX_FAILURES: '0',
    ALLOW_EMBEDDED_DATABASE: 'true',
  };
}

/**
 * The command of `npm start` (package.json), so the benchmarks run the service with the Node flags
 * production gets; `nodeArgs` go after those flags (a profiler's, say).
 */
export function serviceCommand(nodeArgs: string[] = []): string[] {
  const [node, ...rest] = startScript();
  return [node as string, ...startFlags(), ...nodeArgs, ...rest.filter((arg) => !arg.startsWith('--'))];
}

/** The Node flags of `npm start`, which the bare server gets too: both run on the same V8 settings. */
export function startFlags(): string[] {
  return startScript().filter((arg) => arg.startsWith('--'));
}

function startScript(): string[] {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    scripts: { start: string };
  };
  return pkg.scripts.start.split(/\s+/);
}
