import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

type Headers = ReadonlyArray<readonly [string, string]>;

/**
 * Headers for an API that serves JSON to programs: nothing may be framed, sniffed or cached, and
 * no referrer leaks. The /docs page sets its own Content-Security-Policy (it runs scripts).
 */
export function registerSecurityHeaders(app: FastifyInstance, options: { https: boolean }): void {
  // A callback hook, not an async one: it does no I/O, and every request of every route runs it,
  // so the promise and the extra turn of the microtask queue an async hook costs are pure waste.
  app.addHook('onRequest', (request, reply, done) => {
    setSecurityHeaders(request, reply, options);
    done();
  });
}

function headerSets(https: boolean): { api: Headers; docs: Headers } {
  const docs: Headers = [
    ['x-content-type-options', 'nosniff'],
    ['x-frame-options', 'DENY'],
    ['referrer-policy', 'no-referrer'],
    ['cross-origin-opener-policy', 'same-origin'],
    ...(https ? [['strict-transport-security', 'max-age=31536000; includeSubDomains'] as const] : []),
  ];
  const api: Headers = [
    ...docs,
    ['content-security-policy', "default-src 'none'; frame-ancestors 'none'"],
    ['cache-control', 'no-store'],
  ];
  return { api, docs };
}

const HTTP = headerSets(false);
const HTTPS = headerSets(true);

/** Also called directly for requests refused before routing, where no hook runs. */
export function setSecurityHeaders(
  request: FastifyRequest,
  reply: FastifyReply,
  options: { https: boolean },
): void {
  reply.header('x-request-id', request.id);
  const sets = options.https ? HTTPS : HTTP;
  for (const [name, value] of request.url.startsWith('/docs') ? sets.docs : sets.api)
    reply.header(name, value);
}
