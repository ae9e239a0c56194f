import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Container } from '../../container.js';
import { ListQuery, PageOf, problems } from '../../platform/http/schemas.js';
import { auditContext } from '../audit/audit-context.js';
import {
  ApiKeyParams,
  ApiKeyView,
  CreateApiKey,
  IssuedApiKey,
  TenantApiKeysParams,
} from './api-keys.schemas.js';

/** A tenant's API keys: `/v1/tenants/:tenantId/api-keys`. */
export const apiKeyRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (
  app,
  { container },
) => {
  const { apiKeys } = container;
  const tags = ['api-keys'];
  const read = { permission: 'api_keys:read' };
  const manage = { permission: 'api_keys:manage' };

  app.post(
    '/',
    {
      config: manage,
      schema: {
        tags,
        summary: 'Create an API key',
        description:
          "Answers the key and its secret (`key`): the only time the secret is shown. The key holds its scope's permissions, narrowed by `permissions` (a key outside the scope: 400), never more than the caller holds (403 escalation). `expiresAt` must be in the future.",
        params: TenantApiKeysParams,
        body: CreateApiKey,
        response: { 201: IssuedApiKey, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await apiKeys.create(
            auditContext(request),
            request.principal,
            request.params.tenantId,
            request.body,
          ),
        ),
  );

  app.get(
    '/',
    {
      config: read,
      schema: {
        tags,
        summary: 'List API keys',
        description:
          "The tenant's keys, revoked ones too, newest first; `q` searches names. Never the secret.",
        params: TenantApiKeysParams,
        querystring: ListQuery,
        response: { 200: PageOf(ApiKeyView), ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => apiKeys.list(request.params.tenantId, request.query),
  );

  app.get(
    '/:id',
    {
      config: read,
      schema: {
        tags,
        summary: 'Get an API key',
        description: 'One key of the tenant. Never the secret.',
        params: ApiKeyParams,
        response: { 200: ApiKeyView, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => apiKeys.get(request.params.tenantId, request.params.id),
  );

  app.delete(
    '/:id',
    {
      config: manage,
      schema: {
        tags,
        summary: 'Revoke an API key',
        description: 'The key fails on the next request, on every instance. Revoking twice is no error.',
        params: ApiKeyParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await apiKeys.revoke(auditContext(request), request.params.tenantId, request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/:id/rotate',
    {
      config: manage,
      schema: {
        tags,
        summary: 'Rotate an API key',
        description:
          'A new secret for the same key; the old one fails at once. The caller must hold what the key holds (403 escalation); a revoked or expired key cannot be rotated (409).',
        params: ApiKeyParams,
        response: { 200: IssuedApiKey, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) =>
      apiKeys.rotate(auditContext(request), request.principal, request.params.tenantId, request.params.id),
  );
};
