import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Container } from '../../container.js';
import { problems } from '../../platform/http/schemas.js';
import { Check, CheckBatch, CheckBatchResult, CheckResult } from './authz.schemas.js';

/** Authorization checks for other services: `/v1/authz`. */
export const authzRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (
  app,
  { container },
) => {
  const { authz } = container;
  const tags = ['authz'];

  app.post(
    '/check',
    {
      // Any principal: an API key too (it answers for its own permissions only).
      config: { apiKey: true },
      schema: {
        tags,
        summary: 'Check a permission',
        description:
          'Whether the caller (or `userId`, which needs members:read in the tenant) holds `permission` in the tenant through their roles, as a tenant-scoped token would say. An unknown key answers false; a malformed one is a 400. A tenant the caller cannot see is a 404.',
        body: Check,
        response: { 200: CheckResult, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => ({ allowed: await authz.check(request.principal, request.body) }),
  );

  app.post(
    '/check-batch',
    {
      // Any principal: an API key too (it answers for its own permissions only).
      config: { apiKey: true },
      schema: {
        tags,
        summary: 'Check several permissions',
        description:
          'Up to 100 checks, each authorized as `/check`; results in the same order. An item the caller may not ask about fails the whole request (403/404 naming its index).',
        body: CheckBatch,
        response: { 200: CheckBatchResult, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => ({
      results: (await authz.checkBatch(request.principal, request.body.checks)).map((allowed) => ({
        allowed,
      })),
    }),
  );
};
