/** How the benchmarks start the service: the production configuration, with the sign-in limits off. */

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
