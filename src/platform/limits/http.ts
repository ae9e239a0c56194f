import type { FastifyInstance } from 'fastify';
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
 * The per-address limits on `/v1/auth/*`, checked in the first `onRequest` hook, before
 * authentication, body parsing or any handler work. The bucket is the route Fastify matched (its
 * pattern, whatever spelling of the path reached it); a request no route matched is counted under
 * the route its normalised path names, or one shared bucket, so no spelling gets a fresh budget.
 * Must be registered before the routes.
 */
export function registerAddressLimits(app: FastifyInstance, limits: Limits): void {
  const authRoutes = new Set<string>();
  app.addHook('onRoute', (route) => {
    if (underAuth(route.url)) authRoutes.add(route.url);
  });

  app.addHook('onRequest', async (request) => {
    // A CORS preflight does no work and cannot sign anyone in.
    if (!limits.addressLimitsOn || request.method === 'OPTIONS') return;
    const pattern = request.routeOptions.url;
    let bucket: string;
    if (pattern !== undefined && !pattern.includes('*')) {
      bucket = pattern;
    } else {
      const path = normalisePath(request.url);
      bucket = authRoutes.has(path) ? path : UNMATCHED;
      if (!underAuth(path)) return;
    }
    if (!underAuth(normalisePath(bucket))) return;
    await limits.hitRoute(bucket, request.ip);
    const budget = request.routeOptions.config?.addressLimit;
    if (budget) await limits.hitAddress(budget, request.ip);
  });
}
