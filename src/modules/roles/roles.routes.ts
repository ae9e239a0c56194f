import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Container } from '../../container.js';
import { ListQuery, PageOf, problems } from '../../platform/http/schemas.js';
import { auditContext } from '../audit/audit-context.js';
import {
  CreateRole,
  RoleParams,
  RoleView,
  SetRolePermissions,
  TenantRolesParams,
  UpdateRole,
} from './roles.schemas.js';

/** A tenant's roles: `/v1/tenants/:tenantId/roles`. */
export const roleRoutes: FastifyPluginAsyncTypebox<{ container: Container }> = async (app, { container }) => {
  const { roles } = container;
  const tags = ['roles'];
  const read = { permission: 'roles:read' };
  const manage = { permission: 'roles:manage' };

  app.get(
    '/',
    {
      config: read,
      schema: {
        tags,
        summary: 'List roles',
        description:
          "The tenant's built-in and custom roles with their permissions, newest first; `q` searches names.",
        params: TenantRolesParams,
        querystring: ListQuery,
        response: { 200: PageOf(RoleView), ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => roles.list(request.params.tenantId, request.query),
  );

  app.get(
    '/:roleId',
    {
      config: read,
      schema: {
        tags,
        summary: 'Get a role',
        description: 'One role of the tenant with its permissions.',
        params: RoleParams,
        response: { 200: RoleView, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => roles.get(request.params.tenantId, request.params.roleId),
  );

  app.post(
    '/',
    {
      config: manage,
      schema: {
        tags,
        summary: 'Create a role',
        description:
          'A custom role. Names are unique in the tenant (case-insensitively; owner, admin and member are taken): 409. Every key must be in the catalogue (400), and you can only grant permissions you hold (403 escalation).',
        params: TenantRolesParams,
        body: CreateRole,
        response: { 201: RoleView, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await roles.create(auditContext(request), request.principal, request.params.tenantId, request.body),
        ),
  );

  app.patch(
    '/:roleId',
    {
      config: manage,
      schema: {
        tags,
        summary: 'Update a role',
        description:
          'Renames, describes or re-permissions a custom role; members get the change on their next request. Built-in roles cannot be changed (409 built_in_role).',
        params: RoleParams,
        body: UpdateRole,
        response: { 200: RoleView, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) =>
      roles.update(
        auditContext(request),
        request.principal,
        request.params.tenantId,
        request.params.roleId,
        request.body,
      ),
  );

  app.put(
    '/:roleId/permissions',
    {
      config: manage,
      schema: {
        tags,
        summary: "Replace a role's permissions",
        description:
          'Sets the permissions of a custom role; members get them on their next request. Same rules as creating a role; built-in roles cannot be changed (409).',
        params: RoleParams,
        body: SetRolePermissions,
        response: { 200: RoleView, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) =>
      roles.setPermissions(
        auditContext(request),
        request.principal,
        request.params.tenantId,
        request.params.roleId,
        request.body.permissions,
      ),
  );

  app.delete(
    '/:roleId',
    {
      config: manage,
      schema: {
        tags,
        summary: 'Delete a role',
        description:
          'Deletes a custom role. Refused while the role is assigned to a member (409 role_in_use) and for built-in roles (409 built_in_role).',
        params: RoleParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await roles.delete(auditContext(request), request.params.tenantId, request.params.roleId);
      return reply.code(204).send(null);
    },
  );
};
