import type { FastifyRequest } from 'fastify';
import type { Principal } from '../../domain/principal.js';
import { clientInfo } from '../../platform/http/client-info.js';

export type AuditActorType = 'user' | 'api_key' | 'system';

export interface AuditActor {
  type: AuditActorType;
  /** The user or key id; null for the system, and for a caller not (yet) known (a failed sign-in). */
  id: string | null;
}

/**
 * Who made a change and from where: what a service needs to write the audit entry of a request.
 * Routes build it (`auditContext(request)`) and pass it down, so services never read a request.
 */
export interface AuditContext {
  actor: AuditActor;
  ip: string | null;
  userAgent: string | null;
}

/** The service itself (CLI, timers, start-up): no request behind it. */
export const SYSTEM_CONTEXT: AuditContext = Object.freeze({
  actor: Object.freeze({ type: 'system', id: null }),
  ip: null,
  userAgent: null,
}) as AuditContext;

export function actorOf(principal: Principal): AuditActor {
  return principal.type === 'user'
    ? { type: 'user', id: principal.userId }
    : { type: 'api_key', id: principal.keyId };
}

/** The request's principal (when it has one) and client address and user agent. */
export function auditContext(request: FastifyRequest): AuditContext {
  const { ip, userAgent } = clientInfo(request);
  const principal = request.principal as Principal | null | undefined;
  return { actor: principal ? actorOf(principal) : { type: 'user', id: null }, ip, userAgent };
}

/** A context for a known user acting from a client (sign-in, sign-up), before any principal exists. */
export function userContext(userId: string | null, client: { ip: string | null; userAgent: string | null }) {
  return { actor: { type: 'user', id: userId }, ip: client.ip, userAgent: client.userAgent } as AuditContext;
}
