import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * Headers for an API that serves JSON to programs: nothing may be framed, sniffed or cached, and
 * no referrer leaks. The /docs page sets its own Content-Security-Policy (it runs scripts).
 */
export function registerSecurityHeaders(app: FastifyInstance, options: { https: boolean }): void {
  app.addHook('onRequest', async (request, reply) => setSecurityHeaders(request, reply, options));
}

/** Also called directly for requests refused before routing, where no hook runs. */
export function setSecurityHeaders(
  request: FastifyRequest,
  reply: FastifyReply,
  options: { https: boolean },
): void {
  reply.header('x-request-id', request.id);
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'DENY');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('cross-origin-opener-policy', 'same-origin');
  if (options.https) reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
  if (!request.url.startsWith('/docs')) {
    reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    reply.header('cache-control', 'no-store');
  }
}
