import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { AddressBudget, Limits } from './limits.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A per-address budget this route spends from, on top of the `/v1/auth/*` one (see ADDRESS_BUDGETS). */
    addressLimit?: AddressBudget;
  }
}

const AUTH_PREFIX = '/v1/auth';
const UNMATCHED = `${AUTH_PREFIX}/(unmatched)`;

/**
 * A path as a router that forgave every spelling would see it: the query and matrix parameters
 * cut, percent-escapes decoded, lower case, empty and `.` segments dropped, `..` applied, no
 * trailing slash. `//V1/Auth/Login/` and `/v1/auth/%6Cogin` both become `/v1/auth/login`.
 */
export function normalisePath(url: string): string {
  let path = url.split(/[?#;]/, 1)[0] ?? '';
  try {
    path = decodeURIComponent(path);
  } catch {
    // A malformed escape stays as written; the router refuses it anyway.
  }
  const segments: string[] = [];
  for (const segment of path.toLowerCase().split(/[/\\]+/)) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  return `/${segments.join('/')}`;
}

const underAuth = (path: string) => path === AUTH_PREFIX || path.startsWith(`${AUTH_PREFIX}/`);

/**
 * The per-address limits on `/v1/auth/*`, checked in each auth route's first `onRequest` hook,
 * before authentication, body parsing or any handler work. The bucket is the route Fastify matched
 * (its pattern, whatever spelling of the path reached it). A request no route takes is counted
 * under the route its normalised path names, or one shared bucket, so no spelling gets a fresh
 * budget: the not-found handler runs the returned check for those (a wildcard route that finds
 * nothing hands its request to that handler too).
 *
 * Hooks go on the auth routes alone rather than on every request: a hook every read paid for, to
 * learn that it was no sign-in, was a visible share of the cheapest reads. Register this after
 * `registerAuthentication`, whose hooks these are put in front of, and before the routes.
 */
export function registerAddressLimits(
  app: FastifyInstance,
  limits: Limits,
): (request: FastifyRequest) => Promise<void> {
  const authRoutes = new Set<string>();

  const hit = async (bucket: string, budget: AddressBudget | undefined, request: FastifyRequest) => {
    await limits.hitRoute(bucket, request.ip);
    if (budget) await limits.hitAddress(budget, request.ip);
  };

  // A CORS preflight does no work and cannot sign anyone in.
  const counts = (request: FastifyRequest) => limits.addressLimitsOn && request.method !== 'OPTIONS';

  const limitUnmatched = async (request: FastifyRequest) => {
    if (!counts(request)) return;
    const path = normalisePath(request.url);
    if (!underAuth(path)) return;
    await hit(authRoutes.has(path) ? path : UNMATCHED, undefined, request);
  };

  app.addHook('onRoute', (route) => {
    if (!underAuth(route.url)) return;
    const bucket = route.url;
    const budget = route.config?.addressLimit;
    authRoutes.add(bucket);
    const hook: onRequestHookHandler = (request, _reply, done) => {
      if (!counts(request)) return done();
      hit(bucket, budget, request).then(() => done(), done);
    };
    const existing = route.onRequest ? [route.onRequest].flat() : [];
    route.onRequest = [hook, ...existing] as typeof route.onRequest;
  });

  return limitUnmatched;
}
