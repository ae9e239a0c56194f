import type { FastifyRequest } from 'fastify';

/** The caller's address (X-Forwarded-For only with TRUST_PROXY) and user agent, for sessions. */
export function clientInfo(request: FastifyRequest): { ip: string | null; userAgent: string | null } {
  return { ip: request.ip ?? null, userAgent: request.headers['user-agent'] ?? null };
}
