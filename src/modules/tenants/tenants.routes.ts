import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Container } from '../../container.js';
import { userOf } from '../../domain/principal.js';
import { ListQuery, PageOf, problems } from '../../platform/http/schemas.js';
import { auditContext } from '../audit/audit-context.js';
import { CreateTenant, MyTenantView, TenantParams, TenantView, UpdateTenant } from './tenants.schemas.js';

/** `/v1/tenants`: creating tenants, the caller's list, and one tenant by id. */
export const tenantRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (
  app,
  { container },
) => {
  const { tenants } = container;
  const tags = ['tenants'];

  app.post(
    '/',
    {
      schema: {
        tags,
        summary: 'Create a tenant',
        description:
          'Creates a tenant with its built-in roles (owner, admin, member); you become its owner. Without a slug one is made from the name. Refused (403 tenant_creation_disabled) when ALLOW_TENANT_CREATION is false, except for superusers.',
        body: CreateTenant,
        response: { 201: TenantView, ...problems(400, 401, 403, 409) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await tenants.create(auditContext(request), userOf(request.principal), request.body)),
  );

  app.get(
    '/',
    {
      schema: {
        tags,
        summary: 'List tenants',
        description:
          'The tenants you belong to, newest first (a superuser sees every tenant); `q` searches name and slug.',
        querystring: ListQuery,
        response: { 200: PageOf(TenantView), ...problems(400, 401) },
      },
    },
    async (request) => tenants.list(userOf(request.principal), request.query),
  );

  app.get(
    '/:tenantId',
    {
      config: { permission: 'tenant:read' },
      schema: {
        tags,
        summary: 'Get a tenant',
        description: 'One tenant. Answers 404 when you are not a member, as if it did not exist.',
        params: TenantParams,
        response: { 200: TenantView, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => tenants.get(request.params.tenantId),
  );

  app.patch(
    '/:tenantId',
    {
      config: { permission: 'tenant:update' },
      schema: {
        tags,
        summary: 'Update a tenant',
        description: 'Renames the tenant or changes its slug (409 when another tenant has it).',
        params: TenantParams,
        body: UpdateTenant,
        response: { 200: TenantView, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => tenants.update(auditContext(request), request.params.tenantId, request.body),
  );

  app.delete(
    '/:tenantId',
    {
      config: { permission: 'tenant:delete' },
      schema: {
        tags,
        summary: 'Delete a tenant',
        description:
          'Deletes the tenant with its memberships, roles, invitations and API keys, in one transaction.',
        params: TenantParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await tenants.delete(auditContext(request), request.params.tenantId);
      return reply.code(204).send(null);
    },
  );
};

/** `/v1/users/me/tenants`: the caller's tenants with their roles in each. */
export const myTenantRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (
  app,
  { container },
) => {
  const { tenants } = container;

  app.get(
    '/me/tenants',
    {
      schema: {
        tags: ['users'],
        summary: 'Your tenants',
        description: 'The tenants you belong to, newest first, with the roles you hold in each.',
        querystring: ListQuery,
        response: { 200: PageOf(MyTenantView), ...problems(400, 401) },
      },
    },
    async (request) => tenants.listMine(userOf(request.principal), request.query),
  );
};
